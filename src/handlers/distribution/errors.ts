/** How messages name a configuration: its name when known, and its ARN. */
export function describeConfiguration(name: string | undefined, arn?: string): string {
  const named = name ? `distribution configuration "${name}"` : 'distribution configuration';
  return arn ? `${named} (${arn})` : named;
}
