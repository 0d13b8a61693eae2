import assert from "node:assert/strict";
import { Deadline } from "../../src/async/deadline.ts";

Deno.test("Deadline aborts on its own clock or with its parent, and can be cleared", async (t) => {
  await t.step("its own clock: expired, TimeoutError", async () => {
    using deadline = new Deadline(10);
    await new Promise((resolve) => deadline.signal.addEventListener("abort", resolve));
    assert.equal(deadline.expired, true);
    assert.equal((deadline.signal.reason as DOMException).name, "TimeoutError");
  });
  await t.step("the parent: the parent's reason, not expired", () => {
    const parent = new AbortController();
    using deadline = new Deadline(60_000, parent.signal);
    parent.abort(new Error("gone"));
    assert.equal(deadline.signal.aborted, true);
    assert.equal(deadline.expired, false);
    assert.equal((deadline.signal.reason as Error).message, "gone");
  });
  await t.step("an aborted parent aborts it at once", () => {
    using deadline = new Deadline(60_000, AbortSignal.abort("early"));
    assert.equal(deadline.signal.reason, "early");
  });
  await t.step("disposed: the timer is cleared (the op sanitizer would fail otherwise)", () => {
    const parent = new AbortController();
    {
      using _deadline = new Deadline(60_000, parent.signal);
    }
    parent.abort();
  });
});

Deno.test("Deadlines share one clock: each fires once at its own time, disposed ones never", async (t) => {
  const fired = (deadline: Deadline) =>
    new Promise<number>((resolve) =>
      deadline.signal.addEventListener("abort", () => resolve(performance.now()), { once: true })
    );
  await t.step("out of order: the later one waits for its own time", async () => {
    const start = performance.now();
    using late = new Deadline(60);
    using early = new Deadline(5);
    const [earlyAt, lateAt] = await Promise.all([fired(early), fired(late)]);
    assert.ok(earlyAt - start >= 5 - 1, `early fired after ${earlyAt - start} ms`);
    assert.ok(lateAt - start >= 60 - 1, `late fired after ${lateAt - start} ms`);
    assert.ok(lateAt > earlyAt);
    assert.equal(early.expired && late.expired, true);
  });
  await t.step(
    "the earliest disposed: the next still fires, the disposed one does not",
    async () => {
      let first: Deadline | undefined = new Deadline(5);
      const firstSignal = first.signal;
      using second = new Deadline(30);
      first[Symbol.dispose]();
      first = undefined;
      await fired(second);
      assert.equal(firstSignal.aborted, false);
      assert.equal(second.expired, true);
    },
  );
  await t.step("a deadline made where another fires is served too", async () => {
    using outer = new Deadline(5);
    const inner = await new Promise<Deadline>((resolve) =>
      outer.signal.addEventListener("abort", () => resolve(new Deadline(5)), { once: true })
    );
    await fired(inner);
    assert.equal(inner.expired, true);
    inner[Symbol.dispose]();
  });
  await t.step("a parent's abort takes it off the clock: it never expires later", async () => {
    const parent = new AbortController();
    using child = new Deadline(10, parent.signal);
    parent.abort("stop");
    using witness = new Deadline(30);
    await fired(witness);
    assert.equal(child.expired, false);
    assert.equal(child.signal.reason, "stop");
  });
  await t.step("many at once: all fire, and the clock's timer is gone after", async () => {
    const many = Array.from({ length: 200 }, (_, i) => new Deadline(i % 20));
    await Promise.all(many.map(fired));
    assert.ok(many.every((d) => d.expired));
    for (const d of many) d[Symbol.dispose]();
    // The op sanitizer fails this test if a timer is still set.
  });
});
