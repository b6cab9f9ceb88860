import { MemoryStore } from '../../src/ipam/memory-store.js';
import { leaseStoreContract } from '../helpers/lease-store-contract.js';

leaseStoreContract('MemoryStore', () => new MemoryStore());
