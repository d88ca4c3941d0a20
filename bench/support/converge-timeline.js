// Where one rollout's time went, from what the observer saw: the critical
// path from the start request to completion, split at the points each piece
// hands over to the next, and the same per stage. Every time is ms from the
// start request.
const percentile = (sorted, p) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const round = (value) => (value === null || value === undefined ? null : Math.round(value));
const spread = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: round(percentile(sorted, 0.5)),
    p99: round(percentile(sorted, 0.99)),
    max: round(sorted.at(-1)),
  };
};
const max = (values) => values.reduce((a, b) => Math.max(a, b), -Infinity);
const min = (values) => values.reduce((a, b) => Math.min(a, b), Infinity);

export function convergeTimeline({ began, intentAt, rollout, marks, watched, devices }) {
  const events = [...watched.events].sort((a, b) => a.at - b.at);
  const startedAt = events.find((e) => e.type === 'rollout.started').at;
  const completedAt = events.find((e) => e.type === 'rollout.completed').at;
  // The scheduler's clock when it began planning, in this process's timeline.
  const planningBeganAt = Date.parse(rollout.started_at) - performance.timeOrigin;
  const stageStarts = events
    .filter((e) => e.type === 'rollout.stage_advanced')
    .map((e) => ({ stage: e.stage, at: e.at }));
  const lastStageAt = max(stageStarts.map((stage) => stage.at));
  const desired = [...marks.desired.values()];
  const reported = [...marks.reported.values()];
  const counted = [...watched.counted.values()];
  const lastDesired = max(desired);
  const lastReported = max(reported);
  const lastCounted = max(counted);
  const after = (at) => round(at - began);

  const updates = [];
  const countLags = [];
  for (const [device, at] of marks.reported) {
    const desiredAt = marks.desired.get(device);
    if (desiredAt !== undefined) updates.push(at - desiredAt);
    const countedAt = watched.counted.get(device);
    if (countedAt !== undefined) countLags.push(countedAt - at);
  }

  const stages = stageStarts.map(({ stage, at }, index) => {
    const end = stageStarts[index + 1]?.at ?? completedAt;
    const inStage = [...marks.desired].filter(([, t]) => t >= at && t < end).map(([d]) => d);
    const times = (map) => inStage.flatMap((d) => (map.has(d) ? [map.get(d)] : []));
    const stageDesired = times(marks.desired);
    const stageReported = times(marks.reported);
    const stageCounted = times(watched.counted);
    const lastOf = (values) => (values.length === 0 ? null : round(max(values) - at));
    return {
      stage,
      devices: inStage.length,
      began_ms: after(at),
      ms: round(end - at),
      first_desired_ms: stageDesired.length === 0 ? null : round(min(stageDesired) - at),
      last_desired_ms: lastOf(stageDesired),
      desired_per_second:
        stageDesired.length === 0
          ? null
          : Math.round((stageDesired.length * 1000) / Math.max(1, max(stageDesired) - at)),
      last_reported_ms: lastOf(stageReported),
      last_counted_ms: lastOf(stageCounted),
      to_next_stage_after_last_count_ms:
        stageCounted.length === 0 ? null : round(end - max(stageCounted)),
    };
  });

  return {
    converged_ms: after(lastReported),
    completed_ms: after(completedAt),
    seen: { desired: desired.length, reported: reported.length, counted: counted.length, devices },
    critical_path_ms: {
      api_records_intent: round(intentAt - began),
      until_scheduler_pass: round(planningBeganAt - intentAt),
      scheduler_plan_transaction: round(startedAt - planningBeganAt),
      earlier_stages: round(lastStageAt - startedAt),
      desired_publishing_to_last_device: round(lastDesired - lastStageAt),
      last_device_update_and_report: round(lastReported - lastDesired),
      ingestion_and_count_of_last_report: round(lastCounted - lastReported),
      completion_after_last_count: round(completedAt - lastCounted),
    },
    per_device_ms: {
      desired_to_reported: spread(updates),
      reported_to_counted: spread(countLags),
    },
    stages,
  };
}
