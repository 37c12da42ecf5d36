/**
 * Just enough YAML for deploy/kubernetes.yaml, so its test needs no YAML
 * library: `---` documents, block mappings and sequences (a sequence may sit
 * at its key's indentation), quoted and plain scalars, one-line flow lists
 * and `{}`, comments. Anything else (anchors, multi-line strings, nested
 * flow collections) throws, so the test notices instead of misreading.
 */
export type YamlValue = null | boolean | number | string | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  indent: number;
  text: string;
  number: number;
}

export function parseYamlDocuments(source: string): YamlValue[] {
  const documents: Line[][] = [[]];
  source.split('\n').forEach((raw, index) => {
    const text = stripComment(raw).trimEnd();
    if (/^---\s*$/.test(text)) return void documents.push([]);
    if (text.trim() === '') return;
    if (/^\t/.test(text)) throw new Error(`line ${index + 1}: tabs are not YAML indentation`);
    documents.at(-1)!.push({ indent: text.length - text.trimStart().length, text: text.trim(), number: index + 1 });
  });
  return documents
    .filter((lines) => lines.length > 0)
    .map((lines) => {
      const state = { lines, at: 0 };
      const value = parseBlock(state, lines[0]!.indent);
      if (state.at < lines.length) throw new Error(`line ${lines[state.at]!.number}: unexpected indentation`);
      return value;
    });
}

function parseBlock(state: { lines: Line[]; at: number }, indent: number): YamlValue {
  const first = state.lines[state.at]!;
  if (first.indent !== indent) throw new Error(`line ${first.number}: unexpected indentation`);
  return first.text.startsWith('- ') || first.text === '-' ? parseSequence(state, indent) : parseMapping(state, indent);
}

function parseSequence(state: { lines: Line[]; at: number }, indent: number): YamlValue[] {
  const items: YamlValue[] = [];
  while (state.at < state.lines.length) {
    const line = state.lines[state.at]!;
    if (line.indent !== indent || !line.text.startsWith('- ')) break;
    const rest = line.text.slice(2).trimStart();
    const itemIndent = indent + (line.text.length - rest.length);
    if (/^[^"'[{][^:]*:(\s|$)/.test(rest)) {
      // "- key: value": a mapping whose first key sits on the dash line.
      state.lines[state.at] = { indent: itemIndent, text: rest, number: line.number };
      items.push(parseMapping(state, itemIndent));
    } else {
      state.at++;
      items.push(parseScalar(rest, line.number));
    }
  }
  return items;
}

function parseMapping(state: { lines: Line[]; at: number }, indent: number): { [key: string]: YamlValue } {
  const map: { [key: string]: YamlValue } = {};
  while (state.at < state.lines.length) {
    const line = state.lines[state.at]!;
    if (line.indent < indent) break;
    if (line.indent > indent) throw new Error(`line ${line.number}: unexpected indentation`);
    if (line.text.startsWith('- ')) break;
    const match = /^([^"'[{#][^:]*?|"[^"]*"):(?:\s+(.*))?$/.exec(line.text);
    if (!match) throw new Error(`line ${line.number}: expected "key: value", got ${JSON.stringify(line.text)}`);
    const key = match[1]!.startsWith('"') ? (JSON.parse(match[1]!) as string) : match[1]!;
    if (key in map) throw new Error(`line ${line.number}: duplicate key ${key}`);
    state.at++;
    if (match[2] !== undefined && match[2] !== '') {
      map[key] = parseScalar(match[2], line.number);
      continue;
    }
    const next = state.lines[state.at];
    const nested = next && (next.indent > indent || (next.indent === indent && next.text.startsWith('- ')));
    map[key] = nested ? parseBlock(state, next.indent) : null;
  }
  return map;
}

function parseScalar(text: string, number: number): YamlValue {
  if (/^[&*!|>]/.test(text)) throw new Error(`line ${number}: unsupported YAML: ${text}`);
  if (text === '{}') return {};
  if (text.startsWith('[')) {
    if (!text.endsWith(']') || /[[\]{}]/.test(text.slice(1, -1))) throw new Error(`line ${number}: unsupported flow list: ${text}`);
    const inner = text.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').map((item) => parseScalar(item.trim(), number));
  }
  if (text.startsWith('"')) return JSON.parse(text) as string;
  if (text.startsWith("'")) {
    if (!text.endsWith("'") || text.length < 2) throw new Error(`line ${number}: unterminated string`);
    return text.slice(1, -1).replaceAll("''", "'");
  }
  if (/^(null|Null|NULL|~)$/.test(text)) return null;
  if (/^(true|True|TRUE)$/.test(text)) return true;
  if (/^(false|False|FALSE)$/.test(text)) return false;
  if (/^[-+]?\d+$/.test(text)) return Number(text);
  if (/^[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return Number(text);
  return text;
}

/** The line without its comment; a # inside quotes or a word is not one. */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      if (i === 0 || /[\s:[,-]/.test(line[i - 1]!)) quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) {
      return line.slice(0, i);
    }
  }
  return line;
}
