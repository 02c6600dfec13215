import { Stack, Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * Acknowledges a finding of cdk-nag's AwsSolutions pack on one of our own
 * constructs, so that users who run cdk-nag see no findings for our internals.
 *
 * cdk-nag 3 reads acknowledgments from construct metadata that aws-cdk-lib's
 * `Validations.of(c).acknowledge()` writes, and honours them on the construct and
 * everything below it; the library therefore needs no cdk-nag dependency.
 *
 * @param rule the rule id without the pack name, e.g. `IAM5[Resource::*]`
 */
export function acknowledgeNag(scope: IConstruct, rule: string, reason: string): void {
  const id = `AwsSolutions-${rule}`;
  if (id.split('::').length > 2) {
    // aws-cdk-lib 2.257 rejects ids with more than one "::", such as findings on
    // ARNs with <AWS::Partition>; this is the metadata acknowledge() would write.
    scope.node.addMetadata(Validations.ACKNOWLEDGED_RULES_METADATA_KEY, { [id]: reason });
  } else {
    Validations.of(scope).acknowledge({ id, reason });
  }
}

/**
 * Acknowledges AwsSolutions-IAM5 for one wildcard resource of a policy below `scope`.
 * The finding id holds the resource as cdk-nag flattens it, `<LogicalId.Arn>` for a
 * reference and `<AWS::Partition>` for a pseudo parameter.
 */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  acknowledgeFlattenedResource(scope, flattenedResource(scope, resource), reason);
}

/** As acknowledgeWildcardResource, for a resource flattened already (flattenedResource). */
export function acknowledgeFlattenedResource(scope: IConstruct, flattened: string, reason: string): void {
  acknowledgeNag(scope, `IAM5[Resource::${flattened}]`, reason);
}

/** A resource as cdk-nag names it in a finding. */
export function flattenedResource(scope: IConstruct, resource: string): string {
  return flattenReference(Stack.of(scope).resolve(resource));
}

/** Acknowledges AwsSolutions-IAM5 for one wildcard action of a policy below `scope`. */
export function acknowledgeWildcardAction(scope: IConstruct, action: string, reason: string): void {
  acknowledgeNag(scope, `IAM5[Action::${action}]`, reason);
}

/** cdk-nag's flattening of a resolved CloudFormation value (utils/flatten-cfn-reference). */
function flattenReference(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\${/g, '<').replace(/}/g, '>');
  const value = node as Record<string, any>;
  if (value['Fn::Join']) {
    const [delimiter, items] = value['Fn::Join'];
    return (items as unknown[]).map(flattenReference).join(delimiter);
  }
  if (value['Fn::Sub']) return flattenReference(value['Fn::Sub']);
  if (value['Fn::GetAtt']) {
    const [resource, attribute] = value['Fn::GetAtt'];
    return `<${flattenReference(resource)}.${flattenReference(attribute)}>`;
  }
  if (value['Fn::ImportValue']) return flattenReference(value['Fn::ImportValue']);
  if (value.Ref) return `<${flattenReference(value.Ref)}>`;
  return JSON.stringify(node);
}
