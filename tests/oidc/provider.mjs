// A real OpenID provider (oidc-provider, the certified Node.js
// implementation) on loopback for tests/it/oidc.rs: one client-credentials
// client, `mailer`, whose access tokens are JWTs for the resource `urn:cfsign` (audience `cfsign`),
// signed with ES256 by the first key listed.
//
//   node provider.mjs <node_modules> <port> <keys dir> <kid>[,<kid>...]
//
// Each key is made on first use and kept in <keys dir>/<kid>.json, so a
// restart with another kid list is a key rotation at the provider: the
// first kid signs, every listed kid is published in the JWKS.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [modules, port, keysDir, kids] = process.argv.slice(2);
const { default: Provider } = await import(pathToFileURL(join(modules, 'oidc-provider/lib/index.js')).href);

function key(kid) {
  const file = join(keysDir, `${kid}.json`);
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(file, JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' }));
  }
  return JSON.parse(readFileSync(file, 'utf8'));
}

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'mailer',
      client_secret: 'mailer-secret-for-tests-only',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: kids.split(',').map(key) },
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:cfsign',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'sign',
        audience: 'cfsign',
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
