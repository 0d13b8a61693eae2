import assert from "node:assert/strict";
import { capResponse, ResponseTooLarge } from "../../src/models/wire.ts";

/** A body in chunks, as fetch hands over one it inflated, headers as the server sent them. */
function inflated(chunks: string[], headers: Record<string, string>): Response {
  const bytes = chunks.map((c) => new TextEncoder().encode(c));
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = bytes.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
  return new Response(body, { status: 200, headers });
}

Deno.test("capResponse", async (t) => {
  await t.step(
    "a body read here keeps its status and type, not the wire's length and encoding",
    async () => {
      const response = await capResponse(
        inflated(['{"a":', '"bc"}'], {
          "content-type": "application/json",
          "content-encoding": "gzip",
          "content-length": "3",
        }),
        1_000,
      );
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "application/json");
      assert.equal(response.headers.get("content-encoding"), null);
      assert.equal(response.headers.get("content-length"), null);
      assert.deepEqual(await response.json(), { a: "bc" });
    },
  );

  await t.step("a body that goes past the cap fails at the chunk that does", async () => {
    await assert.rejects(
      capResponse(
        inflated(["x".repeat(600), "y".repeat(600)], { "content-encoding": "br" }),
        1_000,
      ),
      ResponseTooLarge,
    );
  });

  await t.step(
    "a declared length within the cap on a plain body is returned as it came",
    async () => {
      const original = new Response("hello", { headers: { "content-length": "5" } });
      assert.equal(await capResponse(original, 1_000), original);
    },
  );
});
