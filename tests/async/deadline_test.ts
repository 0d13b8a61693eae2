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
