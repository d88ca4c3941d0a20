import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between devices and their broker that a test can cut: `cut()`
 * resets every connection through it and every new one at once, as devices
 * whose network went away see it, and the broker sees each of them drop;
 * `restore()` lets connections through again. It keeps listening all along,
 * so its port never changes hands.
 */
export class TcpProxy {
  /** Connections let through since the start, for waiting on reconnects. */
  passed = 0;
  /** Connections reset on arrival while cut. */
  refused = 0;
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #open = new Set<{ device: Socket; broker: Socket }>();
  #cut = false;

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = createServer((device) => this.#accept(device));
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    proxy.#server.listen(0, '127.0.0.1');
    await once(proxy.#server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Connections through the proxy now. */
  get open(): number {
    return this.#open.size;
  }

  get isCut(): boolean {
    return this.#cut;
  }

  cut(): void {
    this.#cut = true;
    for (const pair of this.#open) this.#reset(pair);
  }

  restore(): void {
    this.#cut = false;
  }

  async close(): Promise<void> {
    this.cut();
    this.#server.close();
    await once(this.#server, 'close');
  }

  #accept(device: Socket): void {
    if (this.#cut) {
      this.refused += 1;
      device.resetAndDestroy();
      return;
    }
    this.passed += 1;
    const broker = connect(this.#target.port, this.#target.host);
    const pair = { device, broker };
    this.#open.add(pair);
    // Either side ending ends the other; errors are how a reset shows, nothing more.
    const end = () => {
      this.#open.delete(pair);
      device.destroy();
      broker.destroy();
    };
    for (const socket of [device, broker]) {
      socket.setNoDelay(true);
      socket.on('error', end);
      socket.on('close', end);
    }
    device.pipe(broker);
    broker.pipe(device);
  }

  #reset(pair: { device: Socket; broker: Socket }): void {
    this.#open.delete(pair);
    pair.device.resetAndDestroy();
    pair.broker.resetAndDestroy();
  }
}
