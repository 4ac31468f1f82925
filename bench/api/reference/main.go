// Reference server for bench/api: Go's net/http doing the same work as
// aureo-gateway's GET /api/v1/nodes: verify an HS256 bearer token (signature,
// exp, iss, aud, typ) on every request, then answer the node list as JSON.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

type claims struct {
	Sub string `json:"sub"`
	Iss string `json:"iss"`
	Aud string `json:"aud"`
	Typ string `json:"typ"`
	Exp int64  `json:"exp"`
	Nbf int64  `json:"nbf"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "address")
	secret := flag.String("secret", "", "HS256 secret")
	nodesFile := flag.String("nodes", "", "JSON file with the node list response")
	flag.Parse()

	raw, err := os.ReadFile(*nodesFile)
	if err != nil {
		log.Fatal(err)
	}
	var body struct {
		Nodes []map[string]interface{} `json:"nodes"`
		Total int                      `json:"total"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		log.Fatal(err)
	}
	key := []byte(*secret)
	// Encoded once, like aureo-gateway's node-list cache: the reference gets
	// the same advantage, so the comparison is the HTTP + JWT path.
	out, err := json.Marshal(body)
	if err != nil {
		log.Fatal(err)
	}

	verify := func(token string) bool {
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			return false
		}
		hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
		if err != nil {
			return false
		}
		var h map[string]interface{}
		if json.Unmarshal(hdr, &h) != nil || h["alg"] != "HS256" {
			return false
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(parts[0] + "." + parts[1]))
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
			return false
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return false
		}
		var c claims
		if json.Unmarshal(payload, &c) != nil {
			return false
		}
		now := time.Now().Unix()
		return c.Typ == "access" && c.Iss == "aureo-vpn" && c.Aud == "aureo-vpn-api" &&
			now < c.Exp+5 && c.Nbf <= now+5 && c.Sub != ""
	}

	http.HandleFunc("/api/v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "Bearer ") || !verify(auth[7:]) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
