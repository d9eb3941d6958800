"""The options each trtexec accepts: every option name its release branch's
samples/common/sampleOptions.cpp (and trtexec.cpp's parseHelp) reads, NVIDIA/TensorRT
release/8.2, release/8.5, release/10.3. An option missing here is "Unknown option" there.
(Test double data for the y7deploy lab.)"""

_8_2 = """
--allowGPUFallback --avgRuns --avgTiming --batch --best --buildOnly --calib --consistency --deploy
--device --directIO --dumpLayerInfo --dumpOutput --dumpProfile --dumpRefit --duration --explicitBatch
--explicitPrecision --exportLayerInfo --exportOutput --exportProfile --exportTimes --exposeDMA --fp16
--help --idleTime --inputIOFormats --int8 --iterations --loadEngine --loadInputs --maxBatch --maxShapes
--maxShapesCalib --minShapes --minShapesCalib --minTiming --model --noBuilderCache --noDataTransfers
--noTF32 --nvtxMode --onnx --optShapes --optShapesCalib --output --outputIOFormats --percentile
--plugins --precisionConstraints --profilingVerbosity --refit --restricted --safe --saveEngine
--separateProfileRun --serialized --shapes --sleepTime --sparsity --streams --tacticSources --threads
--timeDeserialize --timeRefit --timingCacheFile --uff --uffInput --uffNHWC --useCudaGraph --useDLACore
--useManagedMemory --useSpinWait --verbose --warmUp --workspace -h
"""
_8_5_added = """
--heuristic --layerOutputTypes --layerPrecisions --memPoolSize --persistentCacheRatio --preview --std -v
"""
_10_3 = """
--allocationStrategy --allowGPUFallback --allowWeightStreaming --avgRuns --avgTiming --best --bf16
--buildDLAStandalone --builderOptimizationLevel --calib --calibProfile --consistency --device --directIO
--dumpLayerInfo --dumpOptimizationProfile --dumpOutput --dumpProfile --dumpRawBindingsToFile --dumpRefit
--duration --dynamicPlugins --errorOnTimingCacheMiss --excludeLeanRuntime --exportLayerInfo
--exportOutput --exportProfile --exportTimes --exposeDMA --fp16 --fp8 --getPlanVersionOnly
--hardwareCompatibilityLevel --help --idleTime --ignoreParsedPluginLibs --infStreams --inputIOFormats
--int4 --int8 --iterations --layerDeviceTypes --layerOutputTypes --layerPrecisions --leanDLLPath
--loadEngine --loadInputs --markDebug --maxAuxStreams --maxShapes --maxShapesCalib --memPoolSize
--minShapes --minShapesCalib --noBuilderCache --noCompilationCache --noDataTransfers --noTF32 --onnx
--optShapes --optShapesCalib --outputIOFormats --percentile --persistentCacheRatio --pi
--pluginInstanceNorm --plugins --precisionConstraints --preview --profile --profilingVerbosity --refit
--restricted --runtimePlatform --safe --saveDebugTensors --saveEngine --separateProfileRun --serialized
--setPluginsToSerialize --shapes --skipInference --sleepTime --sparsity --staticPlugins --std --streams
--stripAllWeights --stripWeights --stronglyTyped --tacticSources --tempdir --tempfileControls --threads
--timeDeserialize --timeRefit --timingCacheFile --useCudaGraph --useDLACore --useManagedMemory
--useProfile --useRuntime --useSpinWait --vc --verbose --versionCompatible --warmUp
--weightStreamingBudget --weightless -h -v
"""

FLAGS = {
    (8, 2): frozenset(_8_2.split()),
    (8, 5): frozenset(_8_2.split()) | frozenset(_8_5_added.split()),
    (10, 3): frozenset(_10_3.split()),
}


def flags_for(version):
    """The option set of a TensorRT version (nearest known release of the same major)."""
    major, minor = (int(x) for x in version.split(".")[:2])
    if (major, minor) in FLAGS:
        return FLAGS[(major, minor)]
    return FLAGS[(10, 3)] if major >= 10 else FLAGS[(8, 5) if minor >= 5 else (8, 2)]
