// Every grid filter × sort the sidebar offers is served by an index: no full-set sort in a temporary B-tree
// (which costs 100+ ms at 100k images), checked with EXPLAIN QUERY PLAN on the exact SQL the grid runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageSql } from '../../electron/core/images/queries.ts';
import { parseRequest, type ImageFilter } from '../../shared/contract.ts';
import { seedProject } from '../helpers/seed-project.ts';
import { tempDir } from '../helpers/tmp.ts';

test('grid pages never sort the whole filtered set', () => {
  const { project, classIds } = seedProject(tempDir(), { perClass: [50, 50], unlabeled: 20 });
  project.db.exec('ANALYZE');
  const filters: ImageFilter[] = [{}, { classId: classIds[0]! }, { unlabeled: true }, { split: 'train' }, { split: 'unassigned' }];
  for (const filter of filters) {
    for (const sort of ['name', 'date', 'size'] as const) {
      for (const desc of [false, true]) {
        const sql = pageSql(parseRequest('images:query', { filter, sort, desc }));
        const plan = (project.db.prepare(`EXPLAIN QUERY PLAN ${sql.page}`).all(...sql.params, 200, 0) as { detail: string }[])
          .map((r) => r.detail)
          .join(' | ');
        assert.doesNotMatch(plan, /TEMP B-TREE FOR ORDER BY/, `${JSON.stringify(filter)} by ${sort}${desc ? ' desc' : ''}: ${plan}`);
      }
    }
  }
  project.close();
});
