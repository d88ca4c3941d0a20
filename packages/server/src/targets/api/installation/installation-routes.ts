import { version } from '../../../app/version.js';
import type { RouteGroup } from '../build-api.js';

export const installationRoutes: RouteGroup = (app, { database }) => {
  app.get('/v1/installation', async () => {
    const row = await database.db
      .selectFrom('installation')
      .select(['id', 'created_at'])
      .executeTakeFirstOrThrow();
    return { id: row.id, version, created_at: row.created_at.toISOString() };
  });
};
