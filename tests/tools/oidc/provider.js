// A real OpenID Connect provider (the npm package oidc-provider) for the
// zsp integration tests. It serves HTTPS on loopback inside the test's
// network namespace and has three clients:
//   zspctl    public client for the device authorization grant
//   zsp-web   public client of the broker's web page (code flow with PKCE)
//   other-app a client of some other application, for audience tests
// Its login page takes any listed user name without a password. The form
// can ask for a second factor (amr "otp", acr "urn:zsp:mfa") and can
// backdate the sign-in (auth_time) by some seconds, so that tests can show
// the broker's step-up rules.
//
// usage: node provider.js --port P --cert PEM --key PEM --keys-out FILE
//                         --redirect-uri URL
// It prints "listening on ISSUER" once ready. --keys-out receives the
// private signing JWKS, so that tests can sign tokens with the real key.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const querystring = require('node:querystring');
// oidc-provider 8 is an ES module; Node 20.19 and later load it with require.
const Provider = require('oidc-provider').default;

function parseArguments(argv) {
  const options = {};
  for (let i = 2; i < argv.length; i += 2) {
    options[argv[i].replace(/^--/, '')] = argv[i + 1];
  }
  for (const name of ['port', 'cert', 'key', 'keys-out', 'redirect-uri']) {
    if (!options[name]) throw new Error(`missing --${name}`);
  }
  return options;
}

// The test people and their groups; the broker maps groups to zsp roles.
const kAccounts = {
  alice: ['eng'],
  bob: ['eng', 'zsp-approvers'],
  carol: ['eng', 'zsp-approvers'],
  // alice's own account as a provider that keeps capitals may spell it.
  ALICE: ['zsp-approvers'],
  mallory: [],
};

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;
}

function makeProvider(issuer, options) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', use: 'sig', alg: 'RS256' };
  fs.writeFileSync(options['keys-out'], JSON.stringify({ keys: [jwk] }), { mode: 0o600 });

  const configuration = {
    clients: [
      {
        client_id: 'zspctl',
        token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
        response_types: [],
        redirect_uris: [],
        require_auth_time: true,
      },
      {
        client_id: 'zsp-web',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [options['redirect-uri']],
        require_auth_time: true,
      },
      {
        client_id: 'other-app',
        token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
        response_types: [],
        redirect_uris: [],
        require_auth_time: true,
      },
    ],
    jwks: { keys: [jwk] },
    // acr, amr and auth_time sit in the openid scope, so that every ID
    // token carries them and the broker can apply its step-up rules.
    claims: {
      sid: null,
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      profile: ['preferred_username', 'groups'],
    },
    // ID tokens carry the profile claims too, because the broker reads
    // groups from the ID token that zspctl sends.
    conformIdTokenClaims: false,
    acrValues: ['urn:zsp:pwd', 'urn:zsp:mfa'],
    ttl: { IdToken: 600, DeviceCode: 300, Interaction: 600, Session: 3600, Grant: 3600 },
    pkce: { required: () => true, methods: ['S256'] },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx, form) => {
          ctx.body = page('Device sign-in', `${form}<button type="submit" id="continue" form="op.deviceInputForm">Continue</button>`);
        },
        userCodeConfirmSource: async (ctx, form, client, deviceInfo, userCode) => {
          ctx.body = page('Confirm device', `<p>Code <code>${escapeHtml(userCode)}</code> for ${escapeHtml(client.clientId)}</p>${form}<button type="submit" id="confirm" form="op.deviceConfirmForm">Confirm</button>`);
        },
        successSource: async (ctx) => {
          ctx.body = page('Signed in', '<p id="done">You may close this window.</p>');
        },
      },
    },
    findAccount: async (ctx, id) => {
      if (!Object.prototype.hasOwnProperty.call(kAccounts, id)) return undefined;
      return {
        accountId: id,
        claims: async () => ({ sub: id, preferred_username: id, groups: kAccounts[id] }),
      };
    },
    // First-party clients: consent is implied, so a grant is made here.
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile');
      grant.addOIDCClaims(['preferred_username', 'groups']);
      await grant.save();
      return grant;
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', `<pre id="error">${escapeHtml(JSON.stringify(out))}</pre>`);
    },
  };
  return new Provider(issuer, configuration);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (chunk) => {
      data += chunk;
      if (data.length > 16384) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(querystring.parse(data)));
    req.on('error', reject);
  });
}

// The login page: a user name, an optional second factor and an optional
// age of the sign-in in seconds.
async function handleInteraction(provider, req, res) {
  const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(req.url);
  const details = await provider.interactionDetails(req, res);
  if (match[2] && req.method === 'POST') {
    const form = await readBody(req);
    if (!Object.prototype.hasOwnProperty.call(kAccounts, form.login)) {
      res.writeHead(400, { 'content-type': 'text/html' });
      res.end(page('Unknown user', `<p>${escapeHtml(form.login)}</p>`));
      return;
    }
    const mfa = form.mfa === 'on';
    const age = Number.parseInt(form.age || '0', 10) || 0;
    await provider.interactionFinished(req, res, {
      login: {
        accountId: form.login,
        acr: mfa ? 'urn:zsp:mfa' : 'urn:zsp:pwd',
        amr: mfa ? ['pwd', 'otp'] : ['pwd'],
        ts: Math.floor(Date.now() / 1000) - age,
      },
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (details.prompt.name !== 'login') {
    // consent is implied by loadExistingGrant; finish with what it made.
    await provider.interactionFinished(req, res, { consent: {} }, { mergeWithLastSubmission: true });
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end(page('Sign in', `<form method="post" action="/interaction/${escapeHtml(details.uid)}/login">
<label>User <input type="text" name="login" id="login"></label>
<label>Second factor <input type="checkbox" name="mfa" id="mfa"></label>
<label>Signed in seconds ago <input type="text" name="age" id="age" value="0"></label>
<button type="submit" id="sign-in">Sign in</button></form>`));
}

function main() {
  const options = parseArguments(process.argv);
  const issuer = `https://127.0.0.1:${options.port}`;
  const provider = makeProvider(issuer, options);
  provider.proxy = false;
  const callback = provider.callback();
  const server = https.createServer({
    cert: fs.readFileSync(options.cert),
    key: fs.readFileSync(options.key),
  }, (req, res) => {
    if (req.url.startsWith('/interaction/')) {
      handleInteraction(provider, req, res).catch((error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`interaction failed: ${error.message}`);
      });
      return;
    }
    callback(req, res);
  });
  server.listen(Number(options.port), '127.0.0.1', () => {
    console.log(`listening on ${issuer}`);
  });
}

main();
