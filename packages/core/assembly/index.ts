// Entry point of the WebAssembly kernels: everything exported here is callable from the CPU backend.
export { gemm, gemmKBlock, gemmSegmentSum, scratchFloats } from './gemm';
export { adamStep, fusedMaddProbe } from './optimizer';
export { columns } from './conv';
export { maxPool2x2 } from './pool';
export { channelStats, channelSums, channelAffine, batchNormBackward } from './batchnorm';
export { affineReluPool2x2, batchNormReluPoolBackward } from './bn-relu-pool';
export { winogradWeights, winogradConv, winogradPlaneFloats, winogradChunkFloats, winogradWeightGradient, winogradGradFloats, staticsBytes, placeStatics } from './winograd';
export { treeSum, treeSumSlots } from './tree-sum';
export { relu, gatePositive } from './elementwise';
export { columnSums } from './column-sums';
