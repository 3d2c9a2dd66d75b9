// The dtrain release every package and node reports (a node must match its coordinator's).
export const DTRAIN_VERSION = '0.1.0';
