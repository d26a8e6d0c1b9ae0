package main

import (
	"slices"
	"testing"
)

func TestCounts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"1,8,32,64", []int{1, 8, 32, 64}},
		{" 8 , 32", []int{8, 32}},
		{"0", nil},
		{"8,,32", nil},
		{"many", nil},
		{"1001", nil},
	} {
		got, err := counts(tc.in)
		if (err == nil) != (tc.want != nil) || !slices.Equal(got, tc.want) {
			t.Errorf("counts(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
