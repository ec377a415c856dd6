// The package as an app imports it: no options, the module comes with the build.
import { load } from "fetch-with-refresh";
import { ready, storm } from "./storm.js";
import "./app.css";

const client = await load();

ready((n) => storm(client, n, async () => {
  const res = await client.fetchWithRefresh("/api/departments");
  return res.ok && (await res.json()).length > 0;
}));
