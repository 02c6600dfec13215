/**
 * Jest setup: an SDK client that a test forgets to mock or to point at the fake
 * endpoint reaches a closed local port with fake keys, never AWS, and no shell
 * profile, config file or instance metadata is read.
 */
process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:9';
process.env.AWS_ACCESS_KEY_ID = 'AKIAFAKEFORTESTS0000';
process.env.AWS_SECRET_ACCESS_KEY = 'fake-secret-for-tests';
delete process.env.AWS_SESSION_TOKEN;
delete process.env.AWS_PROFILE;
process.env.AWS_CONFIG_FILE = '/dev/null';
process.env.AWS_SHARED_CREDENTIALS_FILE = '/dev/null';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.AWS_REGION = process.env.AWS_REGION ?? 'us-east-1';
