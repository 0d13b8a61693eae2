/**
 * What the shared limits add per frame: the latency of one `UserLimits.takeFrame` check (frame
 * rate and daily budget) without Redis (in-process token bucket) and with a local Redis (one Lua
 * script round trip), p50/p99 over many sequential checks.
 *
 * Redis: `PROACTIVE_REDIS_URL` (or `REDIS_URL`) when set, else a `redis-server` started here on
 * a free loopback port (Debian's, `/usr/bin/redis-server`) and stopped at the end.
 *
 *     deno run --allow-net --allow-env --allow-run --allow-read bench/redis_limits.ts [--json]
 *
 * @module
 */
import { silentLogger } from "../src/log.ts";
import { Metrics } from "../src/server/metrics.ts";
import { RedisLimits } from "../src/server/redis_limits.ts";
import { UserLimits } from "../src/server/user_limits.ts";
import { percentile } from "./stats.ts";

const CHECKS = 5_000;
const WARMUP = 500;

/** Microseconds of each of `n` sequential checks. */
async function measure(limits: UserLimits, n: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    // Many users, so the rate limit itself never refuses: only the check's cost is measured.
    const user = `bench-${i % 1000}`;
    const started = performance.now();
    await limits.takeFrame(user);
    samples.push((performance.now() - started) * 1000);
  }
  return samples.sort((a, b) => a - b);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function startRedis(): { url: string; stop: () => Promise<void> } {
  const given = Deno.env.get("PROACTIVE_REDIS_URL") ?? Deno.env.get("REDIS_URL");
  if (given) return { url: given, stop: () => Promise.resolve() };
  const port = freePort();
  const child = new Deno.Command("/usr/bin/redis-server", {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

async function main(): Promise<void> {
  const json = Deno.args.includes("--json");
  const options = { maxSessionsPerUser: 5, framesPerMinute: 1_000_000, dailyBudgetUsd: 5 };
  const local = new UserLimits(options);
  await measure(local, WARMUP);
  const without = await measure(local, CHECKS);

  const redis = startRedis();
  const metrics = new Metrics(() => 0);
  const shared = new RedisLimits({
    url: redis.url,
    timeoutMs: 1_000,
    leaseMs: 30_000,
    log: silentLogger,
    metrics,
  });
  const withRedis = new UserLimits({ ...options, shared });
  let result: Record<string, unknown>;
  try {
    const deadline = Date.now() + 5_000;
    while (shared.up !== true) {
      if (Date.now() > deadline) throw new Error("Redis did not answer within 5 s");
      await withRedis.takeFrame("bench-warmup");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await measure(withRedis, WARMUP);
    const fallbacksBefore = metrics.redisFallbacks.get({ op: "frame" });
    const withSamples = await measure(withRedis, CHECKS);
    const fallbacks = metrics.redisFallbacks.get({ op: "frame" }) - fallbacksBefore;
    const round = (us: number) => Math.round(us * 10) / 10;
    result = {
      checks: CHECKS,
      without_redis_us: {
        p50: round(percentile(without, 50)),
        p99: round(percentile(without, 99)),
      },
      with_redis_us: {
        p50: round(percentile(withSamples, 50)),
        p99: round(percentile(withSamples, 99)),
      },
      fallbacks,
    };
  } finally {
    await withRedis.close();
    await redis.stop();
  }
  if (json) {
    console.log(JSON.stringify(result));
    return;
  }
  const w = result.without_redis_us as { p50: number; p99: number };
  const r = result.with_redis_us as { p50: number; p99: number };
  console.log(`limiter check per frame, ${CHECKS} sequential checks (µs)`);
  console.log(`without Redis  p50 ${w.p50}  p99 ${w.p99}`);
  console.log(`with Redis     p50 ${r.p50}  p99 ${r.p99}  (fallbacks: ${result.fallbacks})`);
  console.log(`added per frame: p50 ${round1(r.p50 - w.p50)} µs, p99 ${round1(r.p99 - w.p99)} µs`);
}

function round1(us: number): number {
  return Math.round(us * 10) / 10;
}

if (import.meta.main) await main();
