import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDynamoDbLocal } from '../../local/dynamodb-local.js';

describe('startDynamoDbLocal', () => {
  it('names the fix when Java is missing', async () => {
    // Prepare: a PATH on which no `java` can be found.
    const emptyBin = await mkdtemp(join(tmpdir(), 'no-java-'));
    const path = process.env.PATH;
    process.env.PATH = emptyBin;

    try {
      // Act
      const starting = startDynamoDbLocal();

      // Assess
      await expect(starting).rejects.toThrow(
        'DynamoDB Local needs Java 17+: apt-get install -y default-jre-headless (or set DYNAMODB_ENDPOINT to another DynamoDB)',
      );
    } finally {
      process.env.PATH = path;
      await rm(emptyBin, { recursive: true, force: true });
    }
  });
});
