import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { ModuleDefinition } from '../../app/module.js';
import { buildHttpApp } from './build-http-app.js';

export interface HttpServer {
  readonly app: FastifyInstance;
  /** The URL the server listens on; known once started. */
  url(): string;
}

export const httpModule: ModuleDefinition<HttpServer, Record<string, never>> = {
  async init({ config, log, metrics, readiness }) {
    const app = buildHttpApp({ log, metrics, readiness });
    let listening: string | undefined;
    return {
      exports: {
        app,
        url: () => {
          if (listening === undefined) throw new Error('the HTTP server is not listening yet');
          return listening;
        },
      },
      async start() {
        await app.listen({ host: config.host, port: config.httpPort });
        const address = app.server.address() as AddressInfo;
        const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        listening = `http://${host}:${address.port}`;
        log.info({ url: listening }, `HTTP listening on ${listening}`);
      },
      async stop() {
        await app.close();
      },
    };
  },
};
