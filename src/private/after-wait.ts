import { CfnResource, CfnWaitCondition, IResolveContext, Reference, Stack } from 'aws-cdk-lib';

/**
 * An attribute of a resource that its users may read only once a wait condition
 * has completed: `{"Fn::Select": [0, [<attribute>, {"Ref": <wait condition>}]]}`,
 * which names the wait condition (so CloudFormation orders every user after it)
 * and yields the attribute. It takes no resource of its own, where a read step
 * after the wait would.
 *
 * Only in the stack that deploys the wait condition (and its nested stacks): a
 * stack of its own deploys after the whole producing stack anyway, and gets the
 * plain attribute, exported as aws-cdk-lib exports any attribute. (Fn::Select's
 * list accepts Ref and Fn::GetAtt, not Fn::ImportValue, so the wait condition must
 * not be exported with it.) A Reference to the resource, so that
 * `stack.exportValue()` takes it as it takes any attribute.
 *
 * Unverified: what Ref of a WaitCondition returns. Any value does (it is never
 * selected); Fn::Select only refuses null entries, and a Ref is never null.
 *
 * @see https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-select.html
 */
export class AfterWait extends Reference {
  /** The attribute itself, without the wait (what synth keys hash: see synth-key.ts). */
  public readonly attribute: string;

  constructor(resource: CfnResource, attributeName: string, private readonly wait: CfnWaitCondition) {
    super(resource.getAtt(attributeName), resource, attributeName);
    this.attribute = resource.getAtt(attributeName).toString();
  }

  public resolve(context: IResolveContext): unknown {
    return deployedWith(Stack.of(context.scope)) === deployedWith(this.wait.stack)
      ? { 'Fn::Select': [0, [this.attribute, this.wait.ref]] }
      : this.attribute;
  }
}

/** The top-level stack a stack deploys with (itself, unless it is nested). */
function deployedWith(stack: Stack): Stack {
  let root = stack;
  while (root.nestedStackParent) root = root.nestedStackParent;
  return root;
}
