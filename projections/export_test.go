package projections

// CopyFrom is copyFrom, for the tests that must reach the COPY paths.
const CopyFrom = copyFrom
