import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/** Receives of one message from a failure queue before it moves to the queue's own dead-letter queue. */
export const FAILURE_QUEUE_MAX_RECEIVE_COUNT = 10;

/**
 * A queue where the service sets aside what it could not deliver (a dead-letter
 * destination), with a dead-letter queue of its own (Control Tower's CT.SQS.PR.1): a
 * letter that whoever reads the queue receives {@link FAILURE_QUEUE_MAX_RECEIVE_COUNT}
 * times without deleting it moves to `{id}DeadLetters` rather than cycling for 14 days.
 */
export function createFailureQueue(scope: Construct, id: string): sqs.Queue {
  const deadLetters = new sqs.Queue(scope, `${id}DeadLetters`, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
    // byQueue would name the failure queue, whose redrive policy names this queue: a
    // cycle CloudFormation refuses. allowAll admits queues of this account only.
    redriveAllowPolicy: { redrivePermission: sqs.RedrivePermission.ALLOW_ALL },
  });
  return new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
    deadLetterQueue: { queue: deadLetters, maxReceiveCount: FAILURE_QUEUE_MAX_RECEIVE_COUNT },
  });
}
