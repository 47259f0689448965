import { randomUUID } from 'node:crypto';
import { ChildTask, childInput, reportProgress, runChildTask } from './child-process.js';
import { ClientSwarm, openSocket } from './client-swarm.js';
import { measureRounds, postJson, roundPayload, type DeliveryFigures, type RoundPlan } from './round-measurement.js';

/**
 * B0, the floor: a bare `ws` server (its own process) broadcasting to N clients (this
 * process). Same clients, same rounds and the same frame as B3, without the service.
 */

export interface B0Input extends RoundPlan {
  readonly clients: number;
}

runChildTask(async (): Promise<DeliveryFigures> => {
  const input = childInput<B0Input>();
  const server = new ChildTask(new URL('./servers/raw-ws-server.ts', import.meta.url), null);
  const swarm = new ClientSwarm();
  try {
    const { httpUrl, wsUrl } = await server.ready<{ httpUrl: string; wsUrl: string }>();
    await swarm.open(
      input.clients,
      50,
      async () => {
        const socket = await openSocket(wsUrl);
        swarm.attach(socket);
        return socket;
      },
      (opened) => {
        if (opened % 250 === 0 || opened === input.clients) reportProgress(`${opened}/${input.clients} clients connected`);
      },
    );
    return await measureRounds(
      swarm,
      input,
      (round) =>
        postJson(`${httpUrl}/publish`, {
          messageId: randomUUID(),
          type: 'notification',
          payload: roundPayload(round),
          timestamp: new Date().toISOString(),
          channel: 'booking-updates',
        }),
      () => server.request<NodeJS.CpuUsage>('cpuUsage'),
      (done, total) => reportProgress(`round ${done}/${total}`),
    );
  } finally {
    await swarm.close();
    await server.stop();
  }
});
