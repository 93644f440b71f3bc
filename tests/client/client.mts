// A typed client of cfsign, as a frontend would write one: the types come
// from openapi.yaml (openapi-typescript), the calls from openapi-fetch, and
// the whole file compiles under `tsc --strict`. tests/client/run.sh runs it
// against a live `cfsign dev`; every endpoint is called and every answer is
// read through its generated type (a field the contract lacks, or types
// wrongly, fails the compile; a body that differs fails here).
//
//   node client.mjs <base url> <token>

import createClient from "openapi-fetch";
import type { components, paths } from "./api.js";

type Verdict = components["schemas"]["Verdict"];
type Problem = components["schemas"]["Problem"];

const [base, token] = process.argv.slice(2);
if (!base || !token) {
    throw new Error("usage: node client.mjs <base url> <token>");
}
const api = createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${token}` } });
const anonymous = createClient<paths>({ baseUrl: base });

let checks = 0;
function check(ok: boolean, what: string, detail?: unknown): void {
    if (!ok) {
        throw new Error(`${what}: ${JSON.stringify(detail)}`);
    }
    checks += 1;
}

async function verify(url: string, cookies?: Record<string, string>): Promise<Verdict> {
    const { data, error } = await api.POST("/v1/verify", { body: { url, cookies: cookies ?? null } });
    if (!data) {
        throw new Error(`verify: ${JSON.stringify(error)}`);
    }
    return data;
}

// POST /v1/signed-urls: an object key, then the signed URL verified.
const one = await api.POST("/v1/signed-urls", { body: { key: "uploads/Q1 report.pdf", ttl_seconds: 600 } });
if (!one.data) {
    throw new Error(`signed-urls: ${JSON.stringify(one.error)}`);
}
const signed: string = one.data.url;
check(signed.includes("/uploads/Q1%20report.pdf?Expires="), "key encoded, canned policy", signed);
check(signed.endsWith(one.data.signed_query), "url ends with signed_query", one.data);
const verdict = await verify(signed);
check(verdict.valid && verdict.reason === null, "signed URL verifies", verdict);
const resource: string | undefined = verdict.policy?.Statement[0]?.Resource;
check(resource === signed.split("?")[0], "the typed policy names the URL", verdict.policy);
check(typeof verdict.at === "string", "the verdict says when it judged", verdict);

// A bare date is an expiry, as on the CLI.
const dated = await api.POST("/v1/signed-urls", { body: { path: "/a.pdf", expires_at: nextDay() } });
check(dated.data?.policy_type === "canned", "bare-date expires_at", dated.error);

// HLS: one wildcard policy, its signed_query appended to every segment URL.
const hls = await api.POST("/v1/signed-urls", {
    body: { path: "/hls/abc/index.m3u8", policy_resource: "/hls/abc/*", ttl_seconds: 3600, hash_algorithm: "SHA256" },
});
if (!hls.data) {
    throw new Error(`hls: ${JSON.stringify(hls.error)}`);
}
const manifest = new URL(hls.data.url);
const segment = `${manifest.origin}/hls/abc/seg-00001.ts?${hls.data.signed_query}`;
const segmentVerdict = await verify(segment);
check(segmentVerdict.valid && segmentVerdict.policy_type === "custom", "segment + signed_query verifies", segmentVerdict);

// A refusal is a typed problem with a code from the enum.
const refused = await api.POST("/v1/signed-urls", { body: { path: "/a/../b.pdf" } });
const problem: Problem | undefined = refused.error;
check(refused.response.status === 422 && problem?.code === "invalid_path", "invalid path refused", problem);
const outside = await verify(`${manifest.origin}/other/seg.ts?${hls.data.signed_query}`);
check(!outside.valid && outside.reason === "resource_mismatch", "outside the pattern", outside);

// POST /v1/signed-urls/batch.
const batch = await api.POST("/v1/signed-urls/batch", { body: { items: [{ key: "a.pdf" }, { path: "/b.pdf" }] } });
check(batch.data?.items.length === 2, "batch answers every item", batch.error);
for (const item of batch.data?.items ?? []) {
    check("url" in item && (await verify(item.url)).valid, "batch item verifies", item);
}

// POST /v1/signed-cookies: the cookies verify for a URL under the folder.
const cookies = await api.POST("/v1/signed-cookies", { body: { resource: "/hls/abc/*", ttl_seconds: 3600 } });
if (!cookies.data) {
    throw new Error(`cookies: ${JSON.stringify(cookies.error)}`);
}
check(cookies.data.set_cookie.length === Object.keys(cookies.data.cookies).length, "one Set-Cookie per cookie");
const cookieVerdict = await verify(`${manifest.origin}/hls/abc/seg-00002.ts`, cookies.data.cookies);
check(cookieVerdict.valid, "cookies verify for a segment", cookieVerdict);
const trap = await api.POST("/v1/signed-cookies", { body: { resource: "hls/abc/*" } });
check(trap.error?.code === "invalid_key" && trap.error.detail.includes('"/hls/abc/*"'), "key folder refused", trap.error);

// GET /v1/grants/me.
const grants = await api.GET("/v1/grants/me");
check((grants.data?.grants ?? []).some((g) => g.allow_cookies && g.max_ttl_seconds > 0), "grants", grants.error);

// A token without the scheme: the detail says what the header must be.
const bare = await createClient<paths>({ baseUrl: base, headers: { Authorization: token } }).GET("/v1/grants/me");
check(bare.response.status === 401 && (bare.error?.detail ?? "").includes("Bearer <token>"), "Bearer hint", bare.error);

// Operations: probes, metrics, the document itself.
const health = await anonymous.GET("/healthz");
check(health.data?.status === "ok", "healthz", health.error);
const ready = await anonymous.GET("/readyz");
check(ready.data?.status === "ready", "readyz", ready.error);
const metrics = await anonymous.GET("/metrics", { parseAs: "text" });
check((metrics.data ?? "").includes("cfsign_"), "metrics", metrics.response.status);
const doc = await anonymous.GET("/openapi.yaml", { parseAs: "text" });
check((doc.data ?? "").startsWith("openapi: 3.1.0"), "openapi.yaml", doc.response.status);

console.log(`typed client: ${checks} checks passed against ${base}`);

function nextDay(): string {
    const day = new Date(Date.now() + 2 * 86_400_000);
    return day.toISOString().slice(0, 10);
}
