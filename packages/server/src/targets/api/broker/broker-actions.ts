/** What a client wants to do with a topic, as the external broker asks. */
export type BrokerAction = 'publish' | 'subscribe' | 'receive';

/**
 * The actions an ACL question covers, from mosquitto-go-auth's `acc`
 * (1 read, 2 write, 3 both, 4 subscribe) or EMQX's `action`; undefined when
 * it names none.
 */
export function brokerActions(body: {
  acc?: number | undefined;
  action?: string | undefined;
}): BrokerAction[] | undefined {
  switch (body.acc ?? body.action) {
    case 1:
      return ['receive'];
    case 2:
    case 'publish':
      return ['publish'];
    case 3:
      return ['receive', 'publish'];
    case 4:
    case 'subscribe':
      return ['subscribe'];
    case 'all':
      return ['subscribe', 'publish'];
    default:
      return undefined;
  }
}
