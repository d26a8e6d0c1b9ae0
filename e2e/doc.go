// Package e2e holds the tests of the platform as a whole: the three
// services run as real processes against one real PostgreSQL, and the
// deployment files checked without a Docker engine.
package e2e
