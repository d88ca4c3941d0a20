import { describe, expect, it } from 'vitest';
import { isRole, roleAtLeast } from './roles.js';

describe('roles', () => {
  it('orders owner > admin > developer > viewer', () => {
    expect(roleAtLeast('owner', 'admin')).toBe(true);
    expect(roleAtLeast('admin', 'admin')).toBe(true);
    expect(roleAtLeast('developer', 'admin')).toBe(false);
    expect(roleAtLeast('viewer', 'developer')).toBe(false);
  });

  it('recognises only the four roles', () => {
    expect(isRole('admin')).toBe(true);
    expect(isRole('root')).toBe(false);
    expect(isRole(undefined)).toBe(false);
  });
});
