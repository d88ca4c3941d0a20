import { apiKeyRoutes } from './api-keys/api-key-routes.js';
import { auditRoutes } from './audit/audit-routes.js';
import { authRoutes } from './auth/auth-routes.js';
import { brokerAuthRoutes } from './broker/broker-auth-routes.js';
import type { RouteGroup } from './build-api.js';
import { deploymentChangeRoutes } from './deployments/deployment-change-routes.js';
import { deploymentPreviewRoutes } from './deployments/deployment-preview-routes.js';
import { deploymentRoutes } from './deployments/deployment-routes.js';
import { deviceCommandRoutes } from './device-live/device-command-routes.js';
import { deviceLogRoutes } from './device-live/device-log-routes.js';
import { deviceStatusRoutes } from './device-live/device-status-routes.js';
import { deviceTelemetryRoutes } from './device-live/device-telemetry-routes.js';
import { deviceListRoutes } from './devices/device-list-routes.js';
import { devicePlacementRoutes } from './devices/device-placement-routes.js';
import { deviceRegistrationRoutes } from './devices/device-registration-routes.js';
import { deviceRoutes } from './devices/device-routes.js';
import { deviceUpdateRoutes } from './devices/device-update-routes.js';
import { eventStreamRoutes } from './event-stream/event-stream-routes.js';
import { eventSubscriptionChangeRoutes } from './event-subscriptions/event-subscription-change-routes.js';
import { eventSubscriptionRoutes } from './event-subscriptions/event-subscription-routes.js';
import { subscriptionSecretRoutes } from './event-subscriptions/subscription-secret-routes.js';
import { webhookDeliveryRoutes } from './event-subscriptions/webhook-delivery-routes.js';
import { fleetChangeRoutes } from './fleets/fleet-change-routes.js';
import { fleetRoutes } from './fleets/fleet-routes.js';
import { installationRoutes } from './installation/installation-routes.js';
import { openApiRoutes } from './openapi/openapi-routes.js';
import { memberRoutes } from './orgs/member-routes.js';
import { orgRoutes } from './orgs/org-routes.js';
import { provisioningKeyRoutes } from './provisioning/provisioning-key-routes.js';
import { defaultReleaseRoutes } from './releases/default-release-routes.js';
import { releaseLifecycleRoutes } from './releases/release-lifecycle-routes.js';
import { releaseRoutes } from './releases/release-routes.js';
import { rolloutControlRoutes } from './rollouts/rollout-control-routes.js';
import { rolloutReadRoutes } from './rollouts/rollout-read-routes.js';
import { variableRoutes } from './variables/variable-routes.js';

/** Every route group of the API, in registration order. */
export const routeGroups: readonly RouteGroup[] = [
  installationRoutes,
  authRoutes,
  orgRoutes,
  memberRoutes,
  apiKeyRoutes,
  auditRoutes,
  fleetRoutes,
  fleetChangeRoutes,
  provisioningKeyRoutes,
  deviceRegistrationRoutes,
  deviceRoutes,
  deviceUpdateRoutes,
  devicePlacementRoutes,
  deviceListRoutes,
  deviceStatusRoutes,
  deviceLogRoutes,
  deviceTelemetryRoutes,
  deviceCommandRoutes,
  releaseRoutes,
  releaseLifecycleRoutes,
  defaultReleaseRoutes,
  brokerAuthRoutes,
  deploymentRoutes,
  deploymentChangeRoutes,
  deploymentPreviewRoutes,
  rolloutControlRoutes,
  rolloutReadRoutes,
  variableRoutes,
  eventSubscriptionRoutes,
  eventSubscriptionChangeRoutes,
  subscriptionSecretRoutes,
  webhookDeliveryRoutes,
  eventStreamRoutes,
  openApiRoutes,
];
