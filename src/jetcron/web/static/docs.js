// The API reference, rendered from /api/v1/openapi.json (no third-party viewer, no CDN).
const main = document.getElementById("docs");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function schemaText(schema, doc) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map((s) => schemaText(s, doc)).join(" | ");
  if (schema.allOf) return schema.allOf.map((s) => schemaText(s, doc)).join(" + ");
  if (schema.properties) return `{${Object.keys(schema.properties).join(", ")}}`;
  if (schema.type === "array") return `${schemaText(schema.items, doc)}[]`;
  if (schema.enum) return schema.enum.join(" | ");
  return schema.type || "";
}

function operation(path, method, op, doc) {
  const params = (op.parameters || []).map((p) =>
    el("li", {}, el("code", {}, p.name), ` (${p.in}${p.required ? ", required" : ""}) `,
      schemaText(p.schema, doc), p.description ? ` — ${p.description}` : ""));
  const body = op.requestBody?.content?.["application/json"]?.schema;
  return el("section", { class: "op" },
    el("h3", {}, el("span", { class: `verb ${method}` }, method.toUpperCase()), " ", el("code", {}, path)),
    el("p", {}, op.summary || ""),
    params.length ? el("ul", {}, ...params) : "",
    body ? el("p", {}, "Body: ", el("code", {}, schemaText(body, doc))) : "");
}

// why: table.cards (console.css) stacks each row as a card on a phone, as the console's tables
function fieldsTable(schema) {
  const cell = (label, ...content) => el("td", { "data-label": label }, ...content);
  const rows = Object.entries(schema.properties || {}).map(([name, p]) =>
    el("tr", {}, cell("field", el("code", {}, name)), cell("type", schemaText(p)),
      cell("default", p.default === undefined ? "" : JSON.stringify(p.default)), cell("", p.description || "")));
  const head = el("thead", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "type"), el("th", {}, "default"), el("th", {}, "")));
  return el("table", { class: "cards", id: "fields" }, head, el("tbody", {}, ...rows));
}

async function render() {
  const doc = await (await fetch("/api/v1/openapi.json")).json();
  main.replaceChildren(el("h1", {}, `${doc.info.title} ${doc.info.version}`), el("p", {}, doc.info.description),
    el("p", {}, "Send Authorization: Bearer <token>. Errors are application/problem+json (RFC 9457)."));
  const byTag = new Map();
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(path, method, op, doc));
    }
  }
  for (const [tag, ops] of byTag) main.append(el("h2", {}, tag), ...ops);
  const fields = doc.components?.schemas?.ScheduleFields;
  if (fields) main.append(el("h2", {}, "Schedule fields"), fieldsTable(fields));
}

render().catch((err) => { main.textContent = `Could not load the API document: ${err}`; });
