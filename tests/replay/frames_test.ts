import assert from "node:assert/strict";
import { loadFrames, ReplayInputError, toBase64 } from "../../src/replay/frames.ts";

Deno.test("loadFrames() reads a folder of screens", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "frames_test_" });
  try {
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0xff, 0xd9]);
    await Deno.writeTextFile(
      `${dir}/2_mail.json`,
      JSON.stringify({ app_name: "Mail", window_title: "Inbox", ocr_text: "from metadata" }),
    );
    await Deno.writeTextFile(`${dir}/2_mail.txt`, "from the sidecar");
    await Deno.writeTextFile(`${dir}/10_slack.json`, JSON.stringify({ app_name: "Slack" }));
    await Deno.writeFile(`${dir}/10_slack.JPG`, jpeg);
    await Deno.writeTextFile(`${dir}/1_text_only.txt`, "just text");
    await Deno.writeTextFile(`${dir}/README.md`, "ignored");
    await Deno.writeTextFile(`${dir}/.hidden.json`, "ignored");
    const frames = await loadFrames(dir);

    await t.step("one frame per stem, in natural order", () => {
      assert.deepEqual(frames.map((f) => f.name), ["1_text_only", "2_mail", "10_slack"]);
      assert.deepEqual(frames.map((f) => f.fields.frame_number), [1, 2, 3]);
      assert.deepEqual(frames.map((f) => f.fields.screenshot_id), [
        "1_text_only",
        "2_mail",
        "10_slack",
      ]);
    });

    await t.step("the .txt sidecar is the OCR text and wins over the metadata", () => {
      assert.equal(frames[0]?.fields.ocr_text, "just text");
      assert.equal(frames[1]?.fields.ocr_text, "from the sidecar");
      assert.equal(frames[1]?.fields.window_title, "Inbox");
    });

    await t.step("a .jpg becomes standard base64", () => {
      assert.equal(frames[2]?.fields.jpeg_base64, toBase64(jpeg));
      assert.equal(frames[2]?.fields.jpeg_base64, "/9j/4AAQ/9k=");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadFrames() reads JSONL and names bad lines", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "frames_test_" });
  try {
    const good = `${dir}/good.jsonl`;
    await Deno.writeTextFile(
      good,
      '{"type":"frame_event","screenshot_id":"a","app_name":"Slack","extra":1}\r\n\n' +
        '{"type":"frame_event","frame_number":9,"session_context":{"active_tasks":[]}}\n',
    );
    await t.step(
      "one frame per non-blank line; context dropped, unknown fields ignored",
      async () => {
        const frames = await loadFrames(good);
        assert.deepEqual(frames.map((f) => f.name), ["a", "line 3"]);
        assert.deepEqual(frames[0]?.fields, {
          screenshot_id: "a",
          app_name: "Slack",
          frame_number: 1,
        });
        assert.deepEqual(frames[1]?.fields, { frame_number: 9 });
      },
    );

    const table: Array<[string, string, ReplayInputError["code"], RegExp]> = [
      ["not JSON", '{"type":"frame_event"}\n{oops\n', "BAD_LINE", /:2: Message is not valid JSON$/],
      ["an array", "[]\n", "BAD_LINE", /:1: Message must be a JSON object$/],
      ["no type", "{}\n", "BAD_LINE", /:1: Message must have a string "type"$/],
      ["only blank lines", "\n \n", "EMPTY", /holds no frames$/],
    ];
    for (const [name, text, code, message] of table) {
      await t.step(name, async () => {
        const path = `${dir}/${name.replaceAll(" ", "_")}.jsonl`;
        await Deno.writeTextFile(path, text);
        await assert.rejects(loadFrames(path), (err: unknown) => {
          assert.ok(err instanceof ReplayInputError);
          assert.equal(err.code, code);
          assert.match(err.message, message);
          return true;
        });
      });
    }

    await t.step("never echoes the content of a bad line", async () => {
      const path = `${dir}/secret.jsonl`;
      await Deno.writeTextFile(
        path,
        '{"type":"frame_event","ocr_text":987654,"secret":"hunter2"}\n',
      );
      await assert.rejects(loadFrames(path), (err: unknown) => {
        assert.ok(err instanceof ReplayInputError);
        assert.doesNotMatch(err.message.slice(path.length), /hunter2|987654/);
        assert.match(err.message, /"ocr_text" must be a string/);
        return true;
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
