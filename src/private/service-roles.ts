import { Construct } from 'constructs';
import { stackSingleton } from './handler-provider';
import { VmImportExportServiceRole } from '../service-role';

/** The stack's VM Import service role, shared by the imports that are not given one. */
export function importServiceRole(scope: Construct): VmImportExportServiceRole {
  return stackSingleton(scope, 'VmImportServiceRole', (stack, id) => new VmImportExportServiceRole(stack, id, {
    description: 'Service role for EC2 VM Import (vmie.amazonaws.com): reads the disks this stack imports',
  }));
}
