export * from './errors.js';
export * from './roles.js';
export * from './topics.js';
export * from './api/api-keys.js';
export * from './api/audit.js';
export * from './api/scalars.js';
export * from './api/list-page.js';
export * from './api/fleets.js';
export * from './api/provisioning-keys.js';
export * from './api/devices.js';
export * from './api/device-registry.js';
export * from './api/device-list.js';
export * from './devices/device-update-problems.js';
export * from './api/device-live.js';
export * from './api/auth.js';
export * from './api/orgs.js';
export * from './messages/index.js';
export * from './events/index.js';
export * from './webhooks/webhook-headers.js';
export * from './api/releases.js';
export * from './compose/compose-file.js';
export {
  type ComposeIssue,
  type ComposePath,
  unescapeComposeString,
} from './compose/compose-checks.js';
export {
  type ComposeParseResult,
  composeNamePattern,
  parseCompose,
} from './compose/parse-compose.js';
export {
  type ImageReference,
  imageDigestPattern,
  parseImageReference,
  pinnedImageProblem,
} from './compose/image-reference.js';
export * from './cohort.js';
export * from './selector/label-rules.js';
export * from './selector/label-selector.js';
export * from './selector/target-selector.js';
export * from './api/deployment-plan.js';
export * from './api/deployments.js';
export * from './api/rollouts.js';
export * from './deployments/deployment-plan-problems.js';
export * from './deployments/normalize-deployment-plan.js';
export * from './deployments/rollout-stages.js';
export * from './deployments/check-deployment-plan.js';
export * from './api/problem.js';
export * from './api/variables.js';
export * from './api/event-subscriptions.js';
export * from './api/event-stream.js';
