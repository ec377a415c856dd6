// ky with fetch-with-refresh as its fetch: ky's hooks run once per call;
// the refresh and the replay happen inside the fetch it was given.
import ky from "ky";
import { load } from "fetch-with-refresh";
import { ready, storm } from "./storm.js";

const client = await load();
const hooks = { beforeRequest: 0, afterResponse: 0 };
const api = ky.create({
  baseUrl: "/api/",
  fetch: client.fetchWithRefresh,
  hooks: {
    beforeRequest: [({ request }) => { hooks.beforeRequest++; request.headers.set("X-Recipe", "ky"); }],
    afterResponse: [({ response }) => { if (response.ok) hooks.afterResponse++; }],
  },
});

ready(async (n) => ({
  ...await storm(client, n, async (i) => {
    const echo = await api.post("echo", { json: { call: i } }).json();
    return echo.call === i;
  }),
  hooks,
}));
