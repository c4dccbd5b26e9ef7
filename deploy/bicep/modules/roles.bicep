// Least privilege for keyrot's managed identity on ONE Key Vault: Key Vault Secrets Officer,
// scoped to that vault only (keyrot reads and writes secret versions there, and its lock and
// journal secrets). Deploy this module with `scope: resourceGroup(<the vault's group>)`.
//
// The Microsoft Graph application permission Application.ReadWrite.OwnedBy (only where
// keyrot.toml has `entra-app-password` credentials) is NOT granted here: ARM cannot grant
// Graph app roles without the Microsoft Graph Bicep extension. deploy/README.md gives the
// az commands ("Microsoft Graph permission").

@description('Name of the Key Vault (Azure RBAC permission model) in this resource group.')
param vaultName string

@description('Object (principal) id of keyrot\'s user-assigned managed identity.')
param principalId string

// Key Vault Secrets Officer (built-in role).
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'keyrot: rotate the secrets named in keyrot.toml'
  }
}
