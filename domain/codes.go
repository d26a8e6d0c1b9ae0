package domain

import "sort"

// listed reports whether code, which must be width bytes long, is one of the
// codes in list: a sorted string of width-byte codes, each followed by one
// space.
//
// A const string keeps the code tables immutable and free of package
// initialisation (a map would be a mutable package-level variable); with a
// few hundred entries a binary search is as quick as a map lookup.
func listed(list, code string, width int) bool {
	if len(code) != width {
		return false
	}
	stride := width + 1
	n := len(list) / stride
	i := sort.Search(n, func(i int) bool { return list[i*stride:i*stride+width] >= code })
	return i < n && list[i*stride:i*stride+width] == code
}
