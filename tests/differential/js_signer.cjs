// Signs a batch of cases with @aws-sdk/cloudfront-signer, for tests/differential.rs.
//
// stdin:  JSON array of {kind: "url"|"cookies", url, keyPairId, dateLessThan,
//         dateGreaterThan?, ipAddress?, algorithm: "SHA1"|"SHA256"}
// argv:   <private key PEM file>
// env:    CFSIGN_DIFF_NODE_MODULES = the node_modules folder holding the SDK
// stdout: JSON array, one entry per case: {url} or {cookies}, or {error}.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const modules = process.env.CFSIGN_DIFF_NODE_MODULES;
if (!modules) {
  console.error("CFSIGN_DIFF_NODE_MODULES is not set");
  process.exit(2);
}
const signer = require(path.join(modules, "@aws-sdk", "cloudfront-signer"));
const version = require(path.join(modules, "@aws-sdk", "cloudfront-signer", "package.json")).version;
const privateKey = fs.readFileSync(process.argv[2], "utf8");
const cases = JSON.parse(fs.readFileSync(0, "utf8"));

const results = cases.map((c) => {
  const options = {
    url: c.url,
    keyPairId: c.keyPairId,
    privateKey,
    dateLessThan: c.dateLessThan,
    algorithm: c.algorithm,
  };
  if (c.dateGreaterThan) options.dateGreaterThan = c.dateGreaterThan;
  if (c.ipAddress) options.ipAddress = c.ipAddress;
  try {
    if (c.kind === "url") return { url: signer.getSignedUrl(options) };
    const cookies = {};
    for (const [name, value] of Object.entries(signer.getSignedCookies(options))) cookies[name] = String(value);
    return { cookies };
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
});
process.stdout.write(JSON.stringify({ version, results }));
