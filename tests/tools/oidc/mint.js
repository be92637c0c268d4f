// Signs test tokens with the provider's real key (or a stranger's key) so
// that the integration tests can show how the broker treats expired,
// misaddressed, unsigned and tampered tokens. Prints the compact JWT.
//
// usage: node mint.js KEYS_JSON KIND ISSUER AUDIENCE USER
// KIND: valid, expired, wrong-audience, future-iat, bad-signature,
//       alg-none, hs256-public-key, stranger-key, old-auth-time
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const jose = require('jose');

async function main() {
  const [keysFile, kind, issuer, audience, user] = process.argv.slice(2);
  const jwk = JSON.parse(fs.readFileSync(keysFile, 'utf8')).keys[0];
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: issuer,
    sub: user,
    aud: kind === 'wrong-audience' ? 'other-app' : audience,
    preferred_username: user,
    groups: ['eng', 'zsp-approvers'],
    iat: kind === 'future-iat' ? now + 3600 : now - 10,
    exp: kind === 'expired' ? now - 3600 : now + 300,
    auth_time: kind === 'old-auth-time' ? now - 7200 : now - 10,
    amr: ['pwd'],
  };
  if (kind === 'expired') claims.iat = now - 4000;
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');

  if (kind === 'alg-none') {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    console.log(`${header}.${payload}.`);
    return;
  }
  if (kind === 'hs256-public-key') {
    // The classic confusion attack: HMAC keyed with the RSA public key.
    const publicPem = crypto.createPublicKey({ key: jwk, format: 'jwk' })
      .export({ type: 'spki', format: 'pem' });
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: jwk.kid, typ: 'JWT' })).toString('base64url');
    const mac = crypto.createHmac('sha256', publicPem).update(`${header}.${payload}`).digest('base64url');
    console.log(`${header}.${payload}.${mac}`);
    return;
  }
  let key = await jose.importJWK(jwk, 'RS256');
  if (kind === 'stranger-key') {
    key = (await jose.generateKeyPair('RS256')).privateKey;
  }
  const token = await new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' })
    .sign(key);
  if (kind === 'bad-signature') {
    // Flips one claim after signing: the signature no longer matches.
    const parts = token.split('.');
    const tampered = { ...claims, preferred_username: 'root' };
    parts[1] = Buffer.from(JSON.stringify(tampered)).toString('base64url');
    console.log(parts.join('.'));
    return;
  }
  console.log(token);
}

main().catch((error) => {
  console.error(`mint.js: ${error.message}`);
  process.exitCode = 1;
});
