// Which flavour migrate chooses from what the server says about TimescaleDB: CREATE EXTENSION is only
// tried where the library is preloaded (or the role cannot read the setting), since without the
// preload it fails with FATAL and ends the connection.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideFlavour, preloadedLibraries, type TimescaleProbe } from '../../timescale/migrate.ts';

const installedNotPreloaded: TimescaleProbe = {
  available: true,
  preloaded: false,
  installedVersion: undefined,
};

describe('decideFlavour', () => {
  it('falls back to plain PostgreSQL, with the fix in the warning, when timescaledb is installed but not preloaded', () => {
    const decision = decideFlavour(undefined, 'auto', installedNotPreloaded);
    assert.equal(decision.flavour, 'postgresql');
    assert.ok(decision.flavour === 'postgresql' && decision.warning);
    assert.match(decision.warning, /not in shared_preload_libraries/);
    assert.match(decision.warning, /shared_preload_libraries = 'timescaledb'.*restart PostgreSQL/);
  });

  it('creates the extension when it is preloaded, or when the role cannot read the setting', () => {
    for (const preloaded of [true, undefined]) {
      assert.deepEqual(decideFlavour(undefined, 'auto', { ...installedNotPreloaded, preloaded }), {
        flavour: 'timescaledb',
        createExtension: true,
      });
    }
    assert.deepEqual(
      decideFlavour(undefined, 'auto', { available: true, preloaded: true, installedVersion: '2.28.3' }),
      { flavour: 'timescaledb', createExtension: false },
    );
  });

  it('says plainly why when TimescaleDB is not installed or not wanted, without a warning', () => {
    const absent = decideFlavour(undefined, 'auto', {
      available: false,
      preloaded: false,
      installedVersion: undefined,
    });
    assert.deepEqual(absent, {
      flavour: 'postgresql',
      reason: 'the timescaledb extension is not installed on this server',
    });
    const requested = decideFlavour(undefined, 'postgresql', { ...installedNotPreloaded, preloaded: true });
    assert.deepEqual(requested, { flavour: 'postgresql', reason: 'plain PostgreSQL was requested' });
  });

  it('keeps the recorded flavour of a migrated database', () => {
    assert.equal(
      decideFlavour('postgresql', 'auto', { ...installedNotPreloaded, preloaded: true }).flavour,
      'postgresql',
    );
    assert.deepEqual(
      decideFlavour('timescaledb', 'auto', { available: true, preloaded: true, installedVersion: '2.28.3' }),
      { flavour: 'timescaledb', createExtension: false },
    );
  });

  it('refuses a database that has the extension on a server that does not preload it', () => {
    assert.throws(
      () => decideFlavour('timescaledb', 'auto', { ...installedNotPreloaded, installedVersion: '2.28.3' }),
      /has the timescaledb extension \(2\.28\.3\) but the server does not preload it.*restart PostgreSQL/,
    );
  });
});

describe('preloadedLibraries', () => {
  it('reads names from the setting as SHOW prints it', () => {
    assert.deepEqual(preloadedLibraries(''), []);
    assert.deepEqual(preloadedLibraries('timescaledb'), ['timescaledb']);
    assert.deepEqual(preloadedLibraries('pg_stat_statements, "timescaledb"'), [
      'pg_stat_statements',
      'timescaledb',
    ]);
    assert.deepEqual(preloadedLibraries('$libdir/timescaledb.so'), ['timescaledb']);
    assert.deepEqual(preloadedLibraries('timescaledb_toolkit'), ['timescaledb_toolkit']);
  });
});
