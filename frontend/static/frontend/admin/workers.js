// What the Training page says about a live Celery worker (GET /api/workers/): no DOM here.

/**
 * The device a worker reported, in words: "NVIDIA H100 80GB HBM3, 79.1 GiB", "cpu", ...
 * @param {{device: string, name?: string, memory_bytes?: number, count?: number, error?: string} | null} device
 */
export function deviceText(device) {
  if (!device) return "finding out…";
  if (device.error) return `${device.device}: ${device.error}`;
  if (device.device !== "cuda") return device.device;
  const memory = device.memory_bytes ? `, ${(device.memory_bytes / 1024 ** 3).toFixed(1)} GiB` : "";
  const more = device.count && device.count > 1 ? ` (1 of ${device.count} GPUs)` : "";
  return `${device.name ?? "CUDA GPU"}${memory}${more}`;
}

/** @param {string[]} queues */
export function queuesText(queues) {
  return queues.length ? queues.join(", ") : "–";
}
