package main

import (
	"strings"
	"testing"
)

func TestOrderCacheSize(t *testing.T) {
	const db = "postgres://u:secret@127.0.0.1:5432/orders"
	for _, tt := range []struct {
		value   string
		want    int
		wantErr bool
	}{
		{value: "", want: 1_000},
		{value: "50000", want: 50_000},
		{value: "off", want: -1},
		{value: "0", wantErr: true},
		{value: "many", wantErr: true},
	} {
		t.Run(tt.value, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": db, "AUTH": "off", "ORDER_CACHE_SIZE": tt.value}
			cfg, err := loadConfig(func(k string) string { return env[k] })
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "ORDER_CACHE_SIZE:") {
					t.Errorf("ORDER_CACHE_SIZE=%q: error %v, want one naming the setting", tt.value, err)
				}
				return
			}
			if err != nil || cfg.OrderCacheSize != tt.want {
				t.Errorf("ORDER_CACHE_SIZE=%q: %d, %v; want %d", tt.value, cfg.OrderCacheSize, err, tt.want)
			}
		})
	}
}
