// SPDX-License-Identifier: Apache-2.0
// Conformance of `agent-runner serve --mcp` with the official MCP TypeScript SDK.
//
//   node conformance.mjs /path/to/agent-runner
//
// Starts the built host in local mode (filesystem plugin, a temporary SANDBOX_ROOT_DIR) through
// the SDK's Client + StdioClientTransport, lists the tools, calls every one of them (results and
// error results), runs a long command with progress and cancels it (the process must be gone),
// talks raw JSON-RPC to a second server process to send malformed input, checks SIGTERM ends a
// server with a running command cleanly, and attaches to a persistent session twice.
// Exit code 0 when everything holds; the first failed check throws and names itself.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = process.argv[2];
if (!bin) {
  console.error('usage: node conformance.mjs /path/to/agent-runner');
  process.exit(2);
}
// Waits that only guard against a hang; nothing here asserts on how long anything takes.
const HANG_GUARD_MS = 60_000;
const SECRET = 'conformance-secret-value-4711';
const root = mkdtempSync(join(tmpdir(), 'ar-mcp-conformance-'));
const serverEnv = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: process.env.HOME ?? root,
  LANG: 'C.UTF-8',
  MODE: 'local',
  SANDBOX_ROOT_DIR: root,
  // Must never reach a command: the sandbox builds its environment explicitly.
  CONFORMANCE_SECRET: SECRET,
};

let step = 'start';
const log = (msg) => console.log(`[conformance] ${msg}`);
const begin = (name) => {
  step = name;
  log(name);
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, cond) {
  const deadline = Date.now() + HANG_GUARD_MS;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(20);
  }
}

// Host pids of live processes whose command line is exactly `argv` (the sandbox may run commands
// in their own pid namespace, so a pid printed inside it means nothing here). Zombies do not
// count: a container's init may not reap orphans at once.
function processesRunning(argv) {
  const want = argv.join('\0') + '\0';
  const pids = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8') !== want) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      pids.push(Number(name));
    } catch {
      // gone while we looked
    }
  }
  return pids;
}

const textOf = (r) => r.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');

async function connect(args = []) {
  const transport = new StdioClientTransport({
    command: bin,
    args: ['serve', '--mcp', ...args],
    env: serverEnv,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d) => {
    stderr += d;
  });
  const client = new Client({ name: 'agent-runner-conformance', version: '1.0.0' });
  const errors = [];
  client.onerror = (e) => errors.push(e);
  await client.connect(transport);
  return { client, transport, errors, stderr: () => stderr };
}

async function call(client, name, args, options) {
  return client.callTool({ name, arguments: args }, undefined, options);
}

async function expectToolError(client, name, args, code, structuredCode = code) {
  const r = await call(client, name, args);
  assert.equal(r.isError, true, `${name} ${JSON.stringify(args)} should fail with ${code}`);
  assert.match(textOf(r), new RegExp(code), `${name}: error text names ${code}: ${textOf(r)}`);
  // The code is in structuredContent too, where a client takes it without parsing text.
  assert.equal(r.structuredContent?.error?.code, structuredCode, JSON.stringify(r.structuredContent));
  return r;
}

// ---- the official client against the filesystem plugin --------------------------------------

async function toolsAndResults() {
  begin('initialize and list tools');
  const { client, transport, errors, stderr } = await connect();
  try {
    assert.equal(client.getServerVersion()?.name, 'agent-runner');
    assert.ok(client.getServerCapabilities()?.tools, 'tools capability');
    assert.match(client.getInstructions() ?? '', /sandbox/);
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    assert.deepEqual(names, [
      'delete', 'download', 'edit_file', 'execute', 'glob', 'grep', 'ls', 'read_file',
      'upload', 'write_file',
    ]);
    for (const t of tools) {
      assert.equal(t.inputSchema.type, 'object', `${t.name} inputSchema`);
      assert.equal(t.outputSchema?.type, 'object', `${t.name} outputSchema`);
      assert.ok(t.description.length > 80, `${t.name} has a description for a model`);
    }
    await client.ping();

    // One filesystem: commands start in the workdir the instructions name; a relative path is
    // relative to it and an absolute path is the same file for commands and file tools.
    begin('workdir');
    let r = await call(client, 'execute', { command: 'pwd' });
    const W = r.structuredContent.output.trim();
    assert.match(W, /^\//);
    assert.ok(client.getInstructions().includes(`workdir ${W}`), client.getInstructions());

    begin('write_file / read_file');
    r = await call(client, 'write_file', { path: 'src/hello.py', content: 'print("hi")\nx = 1\nx = 1\n' });
    assert.ok(!r.isError, textOf(r));
    assert.equal(r.structuredContent.created, true);
    assert.equal(r.structuredContent.path, `${W}/src/hello.py`);
    r = await expectToolError(client, 'write_file', { path: `${W}/src/hello.py`, content: 'again' }, 'already_exists');
    assert.equal(textOf(r).split('overwrite: true').length, 2, `the hint once: ${textOf(r)}`);
    r = await call(client, 'read_file', { path: `${W}/src/hello.py` });
    assert.equal(textOf(r), '     1\tprint("hi")\n     2\tx = 1\n     3\tx = 1');
    assert.equal(r.structuredContent.content, 'print("hi")\nx = 1\nx = 1\n');
    r = await call(client, 'read_file', { path: 'src/hello.py', offset: 1, limit: 1 });
    assert.match(textOf(r), /^     2\tx = 1\n\.\.\. \(1 more line; call read_file with offset=2/);
    r = await call(client, 'read_file', { path: 'src/hello.py', limit: 0 });
    assert.ok(!r.isError, textOf(r));
    assert.equal(r.structuredContent.lines, 0);
    assert.match(textOf(r), /3 more lines/);
    await expectToolError(client, 'read_file', { path: 'src/hello.py', offset: 9 }, 'invalid_argument');
    await expectToolError(client, 'read_file', { path: 'src/missing.py' }, 'file_not_found');
    await expectToolError(client, 'read_file', { path: '../../../etc/passwd' }, 'invalid_path');
    // Nothing of the host outside the sandbox's filesystem: the host's /root is not there.
    await expectToolError(client, 'read_file', { path: '/root/.profile' }, 'file_not_found');
    await expectToolError(client, 'read_file', { path: 'src' }, 'is_directory');
    // Arguments the schema refuses are a tool error the model can act on, naming the field.
    r = await expectToolError(client, 'read_file', { file_path: 'src/hello.py' }, 'file_path', 'invalid_argument');

    begin('edit_file');
    await expectToolError(client, 'edit_file', { path: 'src/hello.py', old_string: 'x = 1', new_string: 'x = 2' }, 'ambiguous');
    await expectToolError(client, 'edit_file', { path: 'src/hello.py', old_string: 'nope', new_string: 'y' }, 'not_found');
    r = await call(client, 'edit_file', { path: 'src/hello.py', old_string: 'x = 1', new_string: 'x = 2', replace_all: true });
    assert.ok(!r.isError, textOf(r));
    assert.equal(r.structuredContent.occurrences, 2);
    r = await call(client, 'write_file', { path: 'src/hello.py', content: 'print("bye")\n', overwrite: true });
    assert.ok(!r.isError, textOf(r));

    begin('ls / glob / grep');
    r = await call(client, 'ls', {});
    assert.ok(r.structuredContent.entries.some((e) => e.path === `${W}/src` && e.is_dir), JSON.stringify(r.structuredContent));
    assert.ok(textOf(r).split('\n').includes(`${W}/src/`), textOf(r));
    await expectToolError(client, 'ls', { path: 'nowhere' }, 'file_not_found');
    r = await call(client, 'glob', { pattern: '**/*.py' });
    assert.deepEqual(r.structuredContent.entries.map((e) => e.path), [`${W}/src/hello.py`]);
    r = await call(client, 'glob', { pattern: 's*' });
    assert.deepEqual(r.structuredContent.entries.map((e) => [e.path, e.is_dir]), [[`${W}/src`, true]]);
    r = await call(client, 'grep', { pattern: 'b.e' });
    assert.deepEqual(r.structuredContent.matches, [{ path: `${W}/src/hello.py`, line: 1, text: 'print("bye")' }]);
    assert.equal(textOf(r), `${W}/src/hello.py:1:print("bye")`);
    await expectToolError(client, 'grep', { pattern: '(' }, 'invalid_argument');

    begin('upload / download');
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    r = await call(client, 'upload', { files: [{ path: 'bin/tool', content_base64: bytes.toString('base64'), mode: 0o755 }] });
    assert.ok(!r.isError, textOf(r));
    assert.deepEqual(r.structuredContent.files, [{ path: `${W}/bin/tool`, ok: true, bytes: 256 }]);
    r = await call(client, 'download', { paths: ['bin/tool', `${W}/bin/missing`] });
    assert.equal(r.isError, true, 'one file failed');
    const [got, missing] = r.structuredContent.files;
    assert.ok(Buffer.from(got.content_base64, 'base64').equals(bytes), 'downloaded bytes match');
    assert.equal(got.mode & 0o777, 0o755);
    assert.equal(missing.ok, false);
    assert.equal(missing.error.code, 'file_not_found');
    await expectToolError(client, 'upload', { files: [{ path: '/x', content_base64: '***' }] }, 'content_base64', 'invalid_argument');

    begin('execute');
    r = await call(client, 'execute', { command: 'cat src/hello.py; echo oops >&2; exit 3' });
    assert.ok(!r.isError, 'a failing command is a result, not a tool error');
    assert.equal(r.structuredContent.exit_code, 3);
    assert.match(r.structuredContent.output, /print\("bye"\)\noops\n/);
    assert.match(textOf(r), /\[Command failed with exit code 3\]$/);
    r = await call(client, 'execute', { command: 'env; ls /proc/self/fd', env: { GREETING: 'hello' } });
    assert.match(r.structuredContent.output, /^GREETING=hello$/m);
    assert.ok(!r.structuredContent.output.includes(SECRET), "the server's environment leaked into a command");
    r = await call(client, 'execute', { command: 'pwd', cwd: 'src' });
    assert.equal(r.structuredContent.output, `${W}/src\n`);
    r = await call(client, 'execute', { command: `cat ${W}/bin/tool | wc -c` });
    assert.equal(r.structuredContent.output.trim(), '256', 'an absolute path is the same file for a command');
    r = await call(client, 'execute', { command: 'echo before; sleep 30', timeout: 1 });
    assert.equal(r.structuredContent.timed_out, true);
    assert.equal(r.structuredContent.exit_code, 124);
    assert.match(textOf(r), /before\n\[Command timed out/);
    await expectToolError(client, 'execute', { command: 'true', cwd: 'nowhere' }, 'file_not_found');

    begin('delete');
    await expectToolError(client, 'delete', { path: 'src' }, 'invalid_argument');
    r = await call(client, 'delete', { path: `${W}/src`, recursive: true });
    assert.ok(!r.isError, textOf(r));
    assert.equal(r.structuredContent.deleted, true);
    await expectToolError(client, 'read_file', { path: 'src/hello.py' }, 'file_not_found');

    begin('unknown tool is a protocol error');
    await assert.rejects(call(client, 'no_such_tool', {}), (e) => e.code === -32602);

    await longCommandProgressAndCancel(client);
    assert.deepEqual(errors.map(String), [], 'the client saw no protocol errors');
  } catch (e) {
    console.error(`server stderr:\n${stderr()}`);
    throw e;
  } finally {
    await client.close();
  }
  // Closing stdin ends the server, which removes its ephemeral workspace.
  await until('the ephemeral workspace to be removed', () => readdirSync(root).length === 0);
  void transport;
}

async function longCommandProgressAndCancel(client) {
  begin('long command: progress, concurrent reads, cancellation');
  const progress = [];
  let sawStarted;
  const started = new Promise((r) => {
    sawStarted = r;
  });
  const ac = new AbortController();
  const running = call(
    client,
    'execute',
    { command: 'sleep 6011 & echo started > sleeper.txt; echo started; wait', timeout: 0 },
    {
      signal: ac.signal,
      timeout: HANG_GUARD_MS,
      onprogress: (p) => {
        progress.push(p);
        if (/started/.test(p.message ?? '')) sawStarted();
      },
    },
  );
  const outcome = running.then(
    () => 'resolved',
    (e) => e,
  );
  await Promise.race([
    started,
    outcome.then((e) => {
      throw new Error(`the call ended before a progress notification showed its output: ${e}`);
    }),
  ]);
  // The command is still running: other calls are answered meanwhile.
  const r = await call(client, 'read_file', { path: 'sleeper.txt' });
  assert.ok(!r.isError, textOf(r));
  assert.equal(r.structuredContent.content, 'started\n');
  const sleeper = ['sleep', '6011'];
  assert.equal(processesRunning(sleeper).length, 1, 'the command runs until cancelled');
  for (let i = 1; i < progress.length; i++)
    assert.ok(progress[i].progress > progress[i - 1].progress, 'progress increases');

  ac.abort('conformance test cancels the command');
  const err = await outcome;
  assert.notEqual(err, 'resolved', 'a cancelled call is not answered');
  await until('the cancelled command to be killed', () => processesRunning(sleeper).length === 0);
  await client.ping();
}

async function persistentSession() {
  begin('--session attaches to the same workspace');
  let { client } = await connect(['--session', 'conformance']);
  let r = await call(client, 'write_file', { path: 'kept.txt', content: 'still here\n' });
  assert.ok(!r.isError, textOf(r));
  await client.close();
  ({ client } = await connect(['--session', 'conformance']));
  r = await call(client, 'read_file', { path: 'kept.txt' });
  assert.equal(r.structuredContent.content, 'still here\n');
  await call(client, 'delete', { path: 'kept.txt' });
  await client.close();
}

// ---- raw JSON-RPC: malformed input and signals -----------------------------------------------

class RawServer {
  constructor(args = []) {
    this.proc = spawn(bin, ['serve', '--mcp', ...args], { env: serverEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    this.messages = [];
    this.stderr = '';
    let buf = '';
    this.proc.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        // stdout carries protocol messages only: every line must be JSON-RPC.
        const m = JSON.parse(line);
        assert.equal(m.jsonrpc, '2.0', line);
        this.messages.push(m);
      }
    });
    this.proc.stderr.on('data', (d) => {
      this.stderr += d;
    });
    this.exited = new Promise((r) => this.proc.on('close', (code, signal) => r({ code, signal })));
  }
  send(obj) {
    this.proc.stdin.write((typeof obj === 'string' ? obj : JSON.stringify(obj)) + '\n');
  }
  request(id, method, params) {
    this.send({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });
  }
  async response(id) {
    return until(`a response to ${JSON.stringify(id)}`, () =>
      this.messages.find((m) => m.id === id && !('method' in m)),
    );
  }
  async errorCode(id) {
    const m = await this.response(id);
    assert.ok(m.error, `expected an error for ${id}: ${JSON.stringify(m)}`);
    return m.error.code;
  }
}

async function malformedInput() {
  begin('malformed input over raw stdio');
  const s = new RawServer();
  try {
    s.request(1, 'initialize', { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'raw', version: '0' } });
    assert.equal((await s.response(1)).result.protocolVersion, '2024-11-05', 'an older supported version is kept');
    s.request(2, 'initialize', { protocolVersion: '2099-01-01', capabilities: {} });
    assert.equal((await s.response(2)).result.protocolVersion, LATEST_PROTOCOL_VERSION);
    for (const v of SUPPORTED_PROTOCOL_VERSIONS) {
      s.request(`v-${v}`, 'initialize', { protocolVersion: v, capabilities: {} });
      assert.equal((await s.response(`v-${v}`)).result.protocolVersion, v, `version ${v}`);
    }
    s.send({ jsonrpc: '2.0', method: 'notifications/initialized' });

    s.send('{"jsonrpc": "2.0", "id": 3, "method": "ping"'); // truncated JSON
    await until('a parse error', () => s.messages.find((m) => m.error?.code === -32700 && m.id === null));
    s.send({ jsonrpc: '2.0', id: 4 });
    assert.equal(await s.errorCode(4), -32600, 'missing method');
    s.send({ jsonrpc: '1.0', id: 5, method: 'ping' });
    assert.equal(await s.errorCode(5), -32600, 'wrong jsonrpc version');
    s.request(6, 'resources/list', {});
    assert.equal(await s.errorCode(6), -32601, 'unknown method');
    s.request(7, 'tools/call', { name: 'nope', arguments: {} });
    assert.equal(await s.errorCode(7), -32602, 'unknown tool');
    s.request(8, 'tools/call', { name: 'ls', arguments: 'not an object' });
    assert.equal(await s.errorCode(8), -32602, 'arguments of the wrong type');
    s.request(9, 'tools/call', { name: 42 });
    assert.equal(await s.errorCode(9), -32602, 'name of the wrong type');
    s.request(10, 'initialize', { protocolVersion: 2025 });
    assert.equal(await s.errorCode(10), -32602, 'protocolVersion of the wrong type');

    // A 10 MB line: refused and dropped, and the server keeps serving.
    const before = s.messages.length;
    s.send(JSON.stringify({ jsonrpc: '2.0', id: 11, method: 'tools/call', params: { name: 'write_file', arguments: { path: '/big', content: 'x'.repeat(10 * 1024 * 1024) } } }));
    const big = await until('an answer to the 10 MB line', () => s.messages.slice(before).find((m) => m.error));
    assert.equal(big.error.code, -32600);
    assert.match(big.error.message, /exceeds the limit/);
    s.request(12, 'ping');
    assert.deepEqual((await s.response(12)).result, {});
    s.request(13, 'tools/call', { name: 'ls', arguments: {} });
    assert.ok(!(await s.response(13)).result.isError, 'tools still work');

    // End of input: a clean exit, with the ephemeral sandbox released.
    s.proc.stdin.end();
    const { code } = await s.exited;
    assert.equal(code, 0, `exit code on EOF (stderr: ${s.stderr})`);
    assert.deepEqual(readdirSync(root), [], 'workspace released on EOF');
  } catch (e) {
    console.error(`server stderr:\n${s.stderr}`);
    s.proc.kill('SIGKILL');
    throw e;
  }
}

async function sigtermKillsRunningCommands() {
  begin('SIGTERM with a command running');
  const s = new RawServer();
  try {
    s.request(1, 'initialize', { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {} });
    await s.response(1);
    s.request(2, 'tools/call', { name: 'execute', arguments: { command: 'sleep 6012 & wait', timeout: 0 } });
    const sleeper = ['sleep', '6012'];
    await until('the command to start', () => processesRunning(sleeper).length === 1);
    s.proc.kill('SIGTERM');
    const { code, signal } = await s.exited;
    assert.equal(signal, null, `the server handles SIGTERM (stderr: ${s.stderr})`);
    assert.equal(code, 0, `exit code after SIGTERM (stderr: ${s.stderr})`);
    await until('the command to be killed', () => processesRunning(sleeper).length === 0);
    assert.deepEqual(readdirSync(root), [], 'workspace released on SIGTERM');
  } catch (e) {
    console.error(`server stderr:\n${s.stderr}`);
    s.proc.kill('SIGKILL');
    throw e;
  }
}

try {
  await toolsAndResults();
  await malformedInput();
  await sigtermKillsRunningCommands();
  await persistentSession(); // last: it leaves a persistent workspace behind
  log('all checks passed');
} catch (e) {
  console.error(`[conformance] FAILED in step "${step}":`, e);
  process.exitCode = 1;
} finally {
  rmSync(root, { recursive: true, force: true });
}
