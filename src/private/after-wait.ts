import { CfnWaitCondition, Fn, IResolvable, IResolveContext, Stack, Token } from 'aws-cdk-lib';

/**
 * A value of a resource that its users may read only once a wait condition has
 * completed: `{"Fn::Select": [0, [value, {"Ref": wait}]]}`, which names the wait
 * condition (so CloudFormation orders every user after it) and yields the value.
 * It takes no resource of its own, where a read step after the wait would.
 *
 * Only in the stack that deploys the wait condition (and its nested stacks): a
 * stack of its own deploys after the whole producing stack anyway, and gets the
 * plain value, exported as aws-cdk-lib exports any attribute. (Fn::Select's list
 * accepts Ref and Fn::GetAtt, not Fn::ImportValue, so the wait condition must not
 * be exported with it.)
 *
 * @see https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-select.html
 */
export class AfterWait implements IResolvable {
  public readonly creationStack: string[] = [];

  constructor(private readonly value: string, private readonly wait: CfnWaitCondition) {}

  public resolve(context: IResolveContext): unknown {
    return deployedWith(Stack.of(context.scope)) === deployedWith(this.wait.stack)
      ? Fn.select(0, [this.value, this.wait.ref])
      : this.value;
  }

  public toString(): string {
    return Token.asString(this);
  }
}

/** The top-level stack a stack deploys with (itself, unless it is nested). */
function deployedWith(stack: Stack): Stack {
  let root = stack;
  while (root.nestedStackParent) root = root.nestedStackParent;
  return root;
}
