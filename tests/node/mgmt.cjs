// Drives the official `auth0` npm ManagementClient (node-auth0 v4) through authtap's proxy.
// Usage: node mgmt.cjs DOMAIN:PORT CLIENT_ID CLIENT_SECRET PROXY_URL USER_ID AUDIENCE
// (AUDIENCE is explicit because the default would include the test port.)
// Trust comes from NODE_EXTRA_CA_CERTS (the authtap CA). Prints one line per call.
const { ManagementClient } = require('auth0');
const { ProxyAgent, fetch: ufetch } = require('undici');

const [domain, clientId, clientSecret, proxy, userId, audience] = process.argv.slice(2);
const dispatcher = new ProxyAgent(proxy);
const fetch = (url, init) => ufetch(url, { ...init, dispatcher });

(async () => {
  const m = new ManagementClient({ domain, clientId, clientSecret, audience, fetch });
  try {
    const r = await m.users.getAll({ q: 'email:"sam.rivera@dev-forum.example"', search_engine: 'v3' });
    console.log(`getAll ${r.status}`);
  } catch (e) {
    console.log(`getAll error ${e.statusCode || e.message}`);
  }
  try {
    const r = await m.users.delete({ id: userId });
    console.log(`delete ${r.status}`);
  } catch (e) {
    console.log(`delete error ${e.statusCode || e.message}`);
  }
})();
