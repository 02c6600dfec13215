export * from './enums';
export * from './disk-image';
export * from './disk-inspection';
export * from './service-role';
export * from './vm-import-image';
export * from './vm-disk-distribution';
