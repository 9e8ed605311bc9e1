// SPDX-License-Identifier: Apache-2.0
// The MCP side of bench/run: drives MCP servers over stdio with the official TypeScript SDK
// client (the same client, the same calls, for agent-runner and for the baseline server), and
// times Node's own child_process as the baseline of `execute`.
//
//   node mcp_bench.mjs SPEC.json
//
// Spec: {"rounds": N, "subjects": [
//   {"name", "kind": "mcp", "command", "args": [...], "env": {...}, "setup": [{"tool", "arguments"}],
//    "tool", "arguments", "calls": K},
//   {"name", "kind": "spawn", "argv": [...], "calls": K}]}
// Every subject is started and warmed up (one call) first; then each round runs K sequential
// calls of every subject in turn (A×K, B×K, A×K, ...). Prints {"subjects": [{"name",
// "calls_per_s": [one per round], "summary": {...}}]}. A tool error or a failed process aborts
// the run with exit code 1: a benchmark of a failure means nothing.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function summarize(result) {
  const text = (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
  const s = { is_error: Boolean(result.isError), text_bytes: text.length };
  s.text_lines = text ? text.split('\n').length : 0;
  for (const [k, v] of Object.entries(result.structuredContent ?? {})) {
    if (Array.isArray(v)) s[k] = v.length;
    else if (typeof v === 'number' || typeof v === 'boolean') s[k] = v;
  }
  return s;
}

async function mcpSubject(sub) {
  const transport = new StdioClientTransport({
    command: sub.command,
    args: sub.args ?? [],
    env: sub.env,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const client = new Client({ name: 'agent-runner-bench', version: '1.0.0' });
  await client.connect(transport);
  const call = async (tool, args) => {
    const r = await client.callTool({ name: tool, arguments: args });
    if (r.isError) {
      const text = (r.content ?? []).map((c) => c.text ?? '').join(' ');
      throw new Error(`${sub.name}: ${tool} failed: ${text}\n${stderr}`);
    }
    return r;
  };
  for (const s of sub.setup ?? []) await call(s.tool, s.arguments);
  let last = null;
  return {
    once: async () => {
      last = await call(sub.tool, sub.arguments);
    },
    summary: () => summarize(last),
    close: () => client.close(),
  };
}

function spawnSubject(sub) {
  const [file, ...args] = sub.argv;
  let exits = 0;
  return {
    once: () =>
      new Promise((resolve, reject) => {
        const child = spawn(file, args, { stdio: 'ignore' });
        child.on('error', reject);
        child.on('exit', (code) => {
          if (code !== 0) reject(new Error(`${sub.name}: exit code ${code}`));
          exits += 1;
          resolve();
        });
      }),
    summary: () => ({ exit_code: 0, runs: exits }),
    close: async () => {},
  };
}

const subjects = [];
try {
  for (const sub of spec.subjects) {
    const s = sub.kind === 'mcp' ? await mcpSubject(sub) : spawnSubject(sub);
    await s.once(); // warm-up
    subjects.push({ sub, s, samples: [] });
  }
  for (let r = 0; r < (spec.rounds ?? 5); r += 1) {
    for (const t of subjects) {
      const calls = t.sub.calls ?? 10;
      const start = process.hrtime.bigint();
      for (let i = 0; i < calls; i += 1) await t.s.once();
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      t.samples.push(calls / seconds);
    }
  }
  const out = subjects.map((t) => ({
    name: t.sub.name,
    calls_per_s: t.samples,
    summary: t.s.summary(),
  }));
  process.stdout.write(JSON.stringify({ subjects: out }) + '\n');
} catch (e) {
  process.stderr.write(`mcp_bench: ${e.stack ?? e}\n`);
  process.exitCode = 1;
} finally {
  for (const t of subjects) await t.s.close().catch(() => {});
}
process.exit(process.exitCode ?? 0);
