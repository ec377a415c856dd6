import { useEffect, useState } from "react";
import { fetchWithRefresh, getClient } from "../utils/fetchWithRefresh";
import { storm } from "../lib/storm";

export default function Home() {
  const [departments, setDepartments] = useState(null);
  const [status, setStatus] = useState("loading");

  useEffect(() => {
    getClient().then(() => {
      window.recipe = { run: storm };
      setStatus("ready");
    }, (err) => setStatus(`failed: ${err}`));
  }, []);

  async function show() {
    const res = await fetchWithRefresh("/api/departments");
    setDepartments(res.ok ? await res.json() : []);
  }

  return (
    <main>
      <h1>fetch-with-refresh with Next.js</h1>
      <p id="status">{status}</p>
      <button onClick={show}>Departments</button>
      {departments && <ul>{departments.map((d) => <li key={d.id}>{d.name}</li>)}</ul>}
    </main>
  );
}
