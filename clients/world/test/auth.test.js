import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createTokenSource, DEFAULT_TOKEN_FILE } from '../lib/auth.js';
import { resolveConfig } from '../lib/config.js';

test('no token file means no Authorization header', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-sa-'));
  try {
    assert.equal(createTokenSource({ dir })(), undefined);
    assert.equal(createTokenSource({ file: join(dir, 'token') })(), undefined);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('the token is re-read when the file changes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-sa-'));
  let clock = 0;
  try {
    const file = join(dir, 'token');
    writeFileSync(file, 'first\n');
    utimesSync(file, 1000, 1000);
    const header = createTokenSource({ dir, now: () => clock });
    assert.equal(header(), 'Bearer first');

    writeFileSync(file, 'second');
    utimesSync(file, 2000, 2000);
    clock += 10;
    assert.equal(header(), 'Bearer first', 'stat is throttled');
    clock += 2000;
    assert.equal(header(), 'Bearer second', 'rotation is picked up');

    rmSync(file);
    clock += 2000;
    assert.equal(header(), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Lays out `dir` as the kubelet does for a projected volume and returns a function that rotates it. */
function kubeletVolume(dir) {
  let generation = 0;
  return function publish(token) {
    generation += 1;
    const gen = `..2026_11_30_04_00_0${generation}.${generation}`;
    mkdirSync(join(dir, gen));
    const file = join(dir, gen, 'token');
    writeFileSync(file, token);
    utimesSync(file, 1000, 1000); // same mtime every time: only the inode tells them apart
    symlinkSync(gen, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data')); // the atomic swap
    if (generation === 1) symlinkSync(join('..data', 'token'), join(dir, 'token'));
    else rmSync(join(dir, `..2026_11_30_04_00_0${generation - 1}.${generation - 1}`), { recursive: true });
  };
}

test('a kubelet symlink swap is picked up, even with an unchanged mtime', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-sa-'));
  let clock = 0;
  try {
    const publish = kubeletVolume(dir);
    publish('gen-one');
    const header = createTokenSource({ dir, now: () => clock });
    assert.equal(header(), 'Bearer gen-one');

    publish('gen-two');
    clock += 2000;
    assert.equal(header(), 'Bearer gen-two');

    publish('gen-three');
    clock += 2000;
    assert.equal(header(), 'Bearer gen-three');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the token sent is the projected one for the service audience, unless another is named', () => {
  const base = { WORKFLOW_SERVICE_URL: 'http://svc:3042' };
  const tokenFile = (options = {}, env = {}) => resolveConfig({ ...options, env: { ...base, ...env } }).tokenFile;
  assert.equal(DEFAULT_TOKEN_FILE, '/var/run/secrets/pg-workflow/token');
  assert.equal(tokenFile(), DEFAULT_TOKEN_FILE, 'not the automounted API-server token');
  assert.equal(tokenFile({}, { WORKFLOW_SERVICE_TOKEN_FILE: '/t/wf' }), '/t/wf');
  assert.equal(tokenFile({ tokenFile: '/t/opt' }, { WORKFLOW_SERVICE_TOKEN_FILE: '/t/wf' }), '/t/opt');
  assert.equal(tokenFile({}, { K8S_SERVICE_ACCOUNT_DIR: '/sa' }), join('/sa', 'token'));
  assert.equal(tokenFile({ serviceAccountDir: '/sa' }), join('/sa', 'token'));
  assert.equal(tokenFile({ serviceAccountDir: '/sa' }, { WORKFLOW_SERVICE_TOKEN_FILE: '/t/wf' }), '/t/wf',
    'a named token file wins over a directory');
});

test('a token file named by path is read and re-read like the default one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-proj-'));
  let clock = 0;
  try {
    const publish = kubeletVolume(dir);
    publish('for-pg-workflow');
    const header = createTokenSource({ file: join(dir, 'token'), now: () => clock });
    assert.equal(header(), 'Bearer for-pg-workflow');
    publish('rotated');
    clock += 2000;
    assert.equal(header(), 'Bearer rotated');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
