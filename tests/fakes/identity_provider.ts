/**
 * A test identity provider: RS256 keys made with `jose`, the JWK set served over HTTP by
 * `Deno.serve`, and Firebase-shaped ID tokens minted with any claims. It counts key-set
 * fetches and can go down or rotate keys.
 */
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from "jose";

/** jose's key type (its typings use `node:crypto`'s `CryptoKey`, not the DOM one). */
type JoseKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

/** A signing key and its id. */
export interface TestKey {
  kid: string;
  privateKey: JoseKey;
  publicKey: JoseKey;
}

/** Makes an RS256 key pair. */
export async function makeKey(kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  return { kid, privateKey, publicKey };
}

/** A JWK set endpoint on a free loopback port; `await using` stops it. */
export class IdentityProvider implements AsyncDisposable {
  readonly projectId: string;
  readonly jwksUrl: string;
  /** Keys published in the JWK set. */
  published: TestKey[];
  /** When true the endpoint answers 503. */
  down = false;
  /** Number of JWK set requests served (or refused). */
  fetches = 0;
  #server: Deno.HttpServer<Deno.NetAddr>;

  private constructor(projectId: string, keys: TestKey[]) {
    this.projectId = projectId;
    this.published = keys;
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async () => {
      this.fetches++;
      if (this.down) return new Response("unavailable", { status: 503 });
      const keys = await Promise.all(this.published.map(async (k) => ({
        ...(await exportJWK(k.publicKey)),
        kid: k.kid,
        alg: "RS256",
        use: "sig",
      })));
      return Response.json({ keys }, { headers: { "cache-control": "public, max-age=3600" } });
    });
    this.jwksUrl = `http://127.0.0.1:${this.#server.addr.port}/jwks`;
  }

  /** Starts a provider publishing one fresh key (`kid` "key-1"). */
  static async start(projectId = "test-project"): Promise<IdentityProvider> {
    return new IdentityProvider(projectId, [await makeKey("key-1")]);
  }

  /** The first published key. */
  get key(): TestKey {
    return this.published[0]!;
  }

  /** Valid Firebase claims for `uid`, issued now. */
  claims(uid = "user-1234567890", now = Math.floor(Date.now() / 1000)): JWTPayload {
    return {
      iss: `https://securetoken.google.com/${this.projectId}`,
      aud: this.projectId,
      sub: uid,
      user_id: uid,
      iat: now,
      auth_time: now - 60,
      exp: now + 3600,
      firebase: { sign_in_provider: "password" },
    };
  }

  /** Signs `claims` (default: valid ones) with `key` (default: the published key). */
  async mint(claims: JWTPayload = this.claims(), key: TestKey = this.key): Promise<string> {
    return await new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: key.kid, typ: "JWT" })
      .sign(key.privateKey);
  }

  /** The public key as PEM, for the HS256 key-confusion attack. */
  async publicKeyPem(): Promise<string> {
    return await exportSPKI(this.key.publicKey);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
  }
}

/** base64url of a JSON value, for hand-made tokens. */
export function b64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
