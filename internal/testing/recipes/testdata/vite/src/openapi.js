// openapi-fetch with fetch-with-refresh as its fetch: middleware runs once
// per call; the refresh and the replay happen inside the fetch it was given.
import createClient from "openapi-fetch";
import { load } from "fetch-with-refresh";
import { ready, storm } from "./storm.js";

const client = await load();
const hooks = { onRequest: 0, onResponse: 0 };
const api = createClient({ baseUrl: `${location.origin}/api`, fetch: client.fetchWithRefresh });
api.use({
  onRequest({ request }) {
    hooks.onRequest++;
    request.headers.set("X-Recipe", "openapi-fetch");
    return request;
  },
  onResponse({ response }) {
    if (response.ok) hooks.onResponse++;
  },
});

ready(async (n) => ({
  ...await storm(client, n, async (i) => {
    const { data, error } = await api.POST("/echo", { body: { call: i } });
    return !error && data.call === i;
  }),
  hooks,
}));
