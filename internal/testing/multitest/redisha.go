package multitest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// The replicated and sharded Redis deployments: a Sentinel set and a Redis
// Cluster, each of real redis-server processes on loopback.

// node is one redis-server of a set, with its address.
type node struct {
	Addr string
	p    *process
}

func startNode(log io.Writer, addr string, args ...string) (*node, error) {
	_, port, _ := net.SplitHostPort(addr)
	n := &node{Addr: addr, p: &process{name: "redis-server", log: log,
		args: append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}, args...)}}
	if err := n.p.start(); err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	return n, nil
}

// answers waits until the node at addr answers PING.
func answers(addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	return waitUntil(func() error { return c.Ping(context.Background()).Err() })
}

// Sentinel is a master, a replica and three Sentinels watching them
// (quorum 2, a master down after 1 s).
type Sentinel struct {
	Master, Replica *node
	sentinels       []*node
	dir             string
}

// MasterName is the name the Sentinels know the master by.
const MasterName = "mymaster"

// StartSentinel starts a Sentinel set and waits until the Sentinels know
// the master and its replica.
func StartSentinel(log io.Writer) (*Sentinel, error) {
	dir, err := os.MkdirTemp("", "fwr-sentinel-")
	if err != nil {
		return nil, err
	}
	s := &Sentinel{dir: dir}
	addrs, err := freeAddrs(5, 0)
	if err != nil {
		return nil, err
	}
	if s.Master, err = startNode(log, addrs[0]); err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addrs[0])
	if s.Replica, err = startNode(log, addrs[1], "--replicaof", host, port); err != nil {
		s.Stop()
		return nil, err
	}
	for i, addr := range addrs[2:] {
		_, sport, _ := net.SplitHostPort(addr)
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", i))
		body := fmt.Sprintf("port %s\nbind 127.0.0.1\nsentinel monitor %s %s %s 2\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n",
			sport, MasterName, host, port, MasterName, MasterName)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil { // Sentinel rewrites it
			s.Stop()
			return nil, err
		}
		n := &node{Addr: addr, p: &process{name: "redis-server", log: log, args: []string{conf, "--sentinel"}}}
		if err := n.p.start(); err != nil {
			s.Stop()
			return nil, err
		}
		s.sentinels = append(s.sentinels, n)
	}
	for _, n := range append([]*node{s.Master, s.Replica}, s.sentinels...) {
		if err := answers(n.Addr); err != nil {
			s.Stop()
			return nil, err
		}
	}
	if err := s.waitReplica(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// URL is the -redis flag's value for s: go-redis's failover form.
func (s *Sentinel) URL() string {
	u := "redis://" + s.sentinels[0].Addr + "/0?master_name=" + MasterName
	for _, n := range s.sentinels[1:] {
		u += "&addr=" + n.Addr
	}
	return u
}

// MasterAddr returns the master's address as the Sentinels state it.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: s.sentinels[0].Addr, DisableIdentity: true})
	defer c.Close()
	a, err := c.GetMasterAddrByName(ctx, MasterName).Result()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(a[0], a[1]), nil
}

// waitReplica waits until the replica is in sync and every Sentinel knows it.
func (s *Sentinel) waitReplica() error {
	return waitUntil(func() error {
		for _, n := range s.sentinels {
			c := redis.NewSentinelClient(&redis.Options{Addr: n.Addr, DisableIdentity: true})
			rs, err := c.Replicas(context.Background(), MasterName).Result()
			c.Close()
			if err != nil {
				return err
			}
			if len(rs) == 0 || !strings.Contains(rs[0]["flags"], "slave") || rs[0]["master-link-status"] != "ok" {
				return errors.New("replica not known yet")
			}
		}
		return nil
	})
}

// KillMaster kills the master (SIGKILL): the Sentinels promote the
// replica about a second later.
func (s *Sentinel) KillMaster() { s.Master.p.kill(syscall.SIGKILL) }

// Stop kills every process of the set and removes its files.
func (s *Sentinel) Stop() {
	for _, n := range append([]*node{s.Master, s.Replica}, s.sentinels...) {
		if n != nil {
			n.p.kill(syscall.SIGKILL)
		}
	}
	os.RemoveAll(s.dir)
}

// Cluster is a Redis Cluster of three masters, each with a replica (a
// node is failing after 1 s).
type Cluster struct {
	Nodes []*node
	dir   string
}

// StartCluster starts the six nodes, creates the cluster (redis-cli
// --cluster create) and waits until every node says it is ok.
func StartCluster(log io.Writer) (*Cluster, error) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return nil, errors.New("redis-cli is missing: install redis-tools (redis-server depends on it)")
	}
	dir, err := os.MkdirTemp("", "fwr-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	addrs, err := freeAddrs(6, 10000) // each node's cluster bus listens 10000 above it
	if err != nil {
		return nil, err
	}
	for i, addr := range addrs {
		// A replica may take over however long ago it last heard from its
		// master (validity factor 0): a test kills the master soon after
		// the first sync.
		n, err := startNode(log, addr, "--cluster-enabled", "yes", "--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0",
			"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", i)), "--dir", dir)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	for _, n := range c.Nodes {
		if err := answers(n.Addr); err != nil {
			c.Stop()
			return nil, err
		}
	}
	create := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "1", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	if err := c.waitOK(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// URL is the -redis flag's value for c (with -redis-cluster): its seed
// nodes, in go-redis's cluster form.
func (c *Cluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr
	for i, n := range c.Nodes[1:3] {
		u += map[bool]string{true: "?", false: "&"}[i == 0] + "addr=" + n.Addr
	}
	return u
}

// waitOK waits until every node that runs says cluster_state:ok and each
// replica's link to its master is up.
func (c *Cluster) waitOK() error {
	return waitUntil(func() error {
		for _, n := range c.Nodes {
			if !n.p.running() {
				continue
			}
			rc := redis.NewClient(&redis.Options{Addr: n.Addr, DisableIdentity: true})
			info, err := rc.ClusterInfo(context.Background()).Result()
			repl, rerr := rc.Info(context.Background(), "replication").Result()
			rc.Close()
			if err = errors.Join(err, rerr); err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("%s: cluster not ok yet", n.Addr)
			}
			if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				return fmt.Errorf("%s: replica not in sync yet", n.Addr)
			}
		}
		return nil
	})
}

// MasterOf returns the node that serves key's slot as master, as the
// first node still running states it.
func (c *Cluster) MasterOf(ctx context.Context, key string) (*node, error) {
	for _, n := range c.Nodes {
		if !n.p.running() {
			continue
		}
		rc := redis.NewClient(&redis.Options{Addr: n.Addr, DisableIdentity: true})
		defer rc.Close()
		slot, err := rc.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			return nil, err
		}
		slots, err := rc.ClusterSlots(ctx).Result()
		if err != nil {
			return nil, err
		}
		for _, s := range slots {
			if int64(s.Start) <= slot && slot <= int64(s.End) {
				for _, m := range c.Nodes {
					if m.Addr == s.Nodes[0].Addr {
						return m, nil
					}
				}
			}
		}
		return nil, fmt.Errorf("no node serves %q", key)
	}
	return nil, errors.New("no node runs")
}

// Kill kills n (SIGKILL); its replica takes over its slots about a
// second later.
func (c *Cluster) Kill(n *node) { n.p.kill(syscall.SIGKILL) }

// WaitOK waits until the nodes still running say the cluster is ok again.
func (c *Cluster) WaitOK() error { return c.waitOK() }

// Stop kills every node and removes their files.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.p.kill(syscall.SIGKILL)
	}
	os.RemoveAll(c.dir)
}

// freeAddrs returns n distinct loopback addresses whose ports were free,
// and with bus > 0, whose ports bus above were free too (a port below
// 65536 - bus).
func freeAddrs(n, bus int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var out []string
	for port := 20000 + rand.IntN(20000); len(out) < n && port < 65536-bus; port++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		if bus > 0 {
			b, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+bus))
			if err != nil {
				ln.Close()
				continue
			}
			lns = append(lns, b)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	if len(out) < n {
		return nil, errors.New("not enough free ports")
	}
	return out, nil
}
